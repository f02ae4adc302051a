//! build-index + predict + evaluate through the binary, against simple baselines.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::common::{run, run_ok, s};

fn read_sessions(path: &Path) -> Vec<(u64, Vec<(u64, String)>)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let events = v["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["aid"].as_u64().unwrap(),
                        e["type"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            (v["session"].as_u64().unwrap(), events)
        })
        .collect()
}

fn recall(dir: &Path, submission: &str) -> serde_json::Value {
    let path = dir.join("baseline.csv");
    std::fs::write(&path, submission).unwrap();
    let labels = dir.join("test_labels.jsonl");
    let json = run_ok(&[
        "evaluate",
        "--labels",
        s(&labels),
        "--submission",
        s(&path),
        "--json",
    ]);
    serde_json::from_str(&json).unwrap()
}

#[test]
fn heuristic_beats_popularity_only_and_history_only_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(&[
        "generate",
        "--out",
        s(d),
        "--sessions",
        "20000",
        "--seed",
        "3",
    ]);
    let model = d.join("model");
    // The heuristic reads the co-visitation tables and the popular items only.
    run_ok(&[
        "build-index",
        "--input",
        s(&d.join("train.jsonl")),
        "--model-dir",
        s(&model),
        "--embeddings",
        "off",
        "--no-next-item",
        "--no-sessions",
    ]);
    let predicted = d.join("heuristic.csv");
    run_ok(&[
        "predict",
        "--input",
        s(&d.join("test.jsonl")),
        "--model-dir",
        s(&model),
        "--output",
        s(&predicted),
        "--heuristic",
    ]);
    let json = run_ok(&[
        "evaluate",
        "--labels",
        s(&d.join("test_labels.jsonl")),
        "--submission",
        s(&predicted),
        "--json",
    ]);
    let heuristic: serde_json::Value = serde_json::from_str(&json).unwrap();

    // Popularity only: the 20 most frequent train aids per type.
    let train = read_sessions(&d.join("train.jsonl"));
    let mut counts: HashMap<&str, HashMap<u64, u64>> = HashMap::new();
    for (_, events) in &train {
        for (aid, kind) in events {
            *counts
                .entry(kind.as_str())
                .or_default()
                .entry(*aid)
                .or_default() += 1;
        }
    }
    let top = |kind: &str| {
        let mut v: Vec<(u64, u64)> = counts[kind].iter().map(|(&a, &c)| (a, c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.iter()
            .take(20)
            .map(|(a, _)| a.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let test = read_sessions(&d.join("test.jsonl"));
    let mut popular = String::from("session_type,labels\n");
    let mut history = String::from("session_type,labels\n");
    for (session, events) in &test {
        for kind in ["clicks", "carts", "orders"] {
            writeln!(popular, "{session}_{kind},{}", top(kind)).unwrap();
            let mut unique: Vec<u64> = Vec::new();
            for (aid, _) in events.iter().rev() {
                if !unique.contains(aid) {
                    unique.push(*aid);
                }
            }
            let line: Vec<String> = unique.iter().take(20).map(|a| a.to_string()).collect();
            writeln!(history, "{session}_{kind},{}", line.join(" ")).unwrap();
        }
    }
    let popular = recall(d, &popular);
    let history = recall(d, &history);
    let total = |v: &serde_json::Value| v["total"].as_f64().unwrap();
    eprintln!("recall: heuristic {heuristic}, history-only {history}, popularity-only {popular}");
    assert!(
        total(&heuristic) > total(&history) + 0.02,
        "heuristic {heuristic} vs history {history}"
    );
    assert!(
        total(&heuristic) > total(&popular) + 0.1,
        "heuristic {heuristic} vs popular {popular}"
    );
}

#[test]
fn predict_writes_lists_with_scores_and_handles_unknown_aids() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = d.join("model");
    run_ok(&[
        "build-index",
        "--input",
        "fixtures/world/train.jsonl",
        "--model-dir",
        s(&model),
    ]);
    let input = d.join("unknown.jsonl");
    std::fs::write(
        &input,
        "{\"session\":5,\"events\":[{\"aid\":999999,\"ts\":1661724000000,\"type\":\"clicks\"}]}\n",
    )
    .unwrap();
    let output = d.join("lists.jsonl");
    run_ok(&[
        "predict",
        "--input",
        s(&input),
        "--model-dir",
        s(&model),
        "--output",
        s(&output),
    ]);
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&output).unwrap().trim()).unwrap();
    assert_eq!(line["session"], 5);
    for kind in ["clicks", "carts", "orders"] {
        let items = line[kind]["recommendation"].as_array().unwrap();
        let scores = line[kind]["scores"].as_array().unwrap();
        assert_eq!(items.len(), 20, "{kind}");
        assert_eq!(scores.len(), 20);
    }
}

#[test]
fn predict_refuses_a_missing_model_dir_and_a_bad_output_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "predict",
        "--input",
        "fixtures/world/test.jsonl",
        "--model-dir",
        s(&dir.path().join("none")),
        "--output",
        "x.csv",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("none"));
    let out = run(&[
        "predict",
        "--input",
        "fixtures/world/test.jsonl",
        "--output",
        s(&dir.path().join("x.txt")),
    ]);
    assert_eq!(out.status.code(), Some(1));
}
