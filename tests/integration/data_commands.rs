//! generate, split, convert and evaluate through the binary.

use std::fmt::Write as _;

use crate::common::{repo_path, run, run_ok, s};

#[test]
fn generate_is_byte_identical_for_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for out in [&a, &b] {
        run_ok(&[
            "generate",
            "--out",
            s(out),
            "--sessions",
            "3000",
            "--seed",
            "7",
        ]);
    }
    for name in ["train.jsonl", "test.jsonl", "test_labels.jsonl"] {
        let left = std::fs::read(a.join(name)).unwrap();
        assert!(!left.is_empty(), "{name} is empty");
        assert_eq!(left, std::fs::read(b.join(name)).unwrap(), "{name} differs");
    }
}

/// A submission that predicts exactly the labels.
fn perfect_submission(labels_path: &std::path::Path) -> String {
    let mut csv = String::from("session_type,labels\n");
    for line in std::fs::read_to_string(labels_path).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let session = v["session"].as_u64().unwrap();
        let join = |key: &str| match &v["labels"][key] {
            serde_json::Value::Array(a) => a
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            serde_json::Value::Null => String::new(),
            x => x.to_string(),
        };
        for kind in ["clicks", "carts", "orders"] {
            writeln!(csv, "{session}_{kind},{}", join(kind)).unwrap();
        }
    }
    csv
}

#[test]
fn the_real_otto_sample_loads_converts_splits_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let sample = repo_path("fixtures/otto-sample/train.jsonl");
    let parquet = dir.path().join("sample.parquet");
    let back = dir.path().join("back.jsonl");
    run_ok(&["convert", "--input", s(&sample), "--output", s(&parquet)]);
    run_ok(&["convert", "--input", s(&parquet), "--output", s(&back)]);
    // Real OTTO timestamps have milliseconds: JSONL -> Parquet -> JSONL gives the file back.
    assert_eq!(
        std::fs::read_to_string(&back).unwrap(),
        std::fs::read_to_string(&sample).unwrap()
    );

    let out = dir.path().join("split");
    run_ok(&[
        "split",
        "--input",
        s(&parquet),
        "--out",
        s(&out),
        "--days",
        "14",
        "--seed",
        "1",
    ]);
    // The split's files keep the milliseconds.
    for name in ["train.jsonl", "test.jsonl"] {
        let text = std::fs::read_to_string(out.join(name)).unwrap();
        let stamps: Vec<u64> = text
            .split("\"ts\":")
            .skip(1)
            .map(|t| t.split(',').next().unwrap().parse().unwrap())
            .collect();
        assert!(!stamps.is_empty(), "{name}");
        assert!(
            stamps.iter().any(|t| t % 1000 != 0),
            "{name} lost its milliseconds"
        );
    }
    let labels = out.join("test_labels.jsonl");
    let submission = dir.path().join("perfect.csv");
    std::fs::write(&submission, perfect_submission(&labels)).unwrap();
    let json = run_ok(&[
        "evaluate",
        "--labels",
        s(&labels),
        "--submission",
        s(&submission),
        "--json",
    ]);
    let recall: serde_json::Value = serde_json::from_str(&json).unwrap();
    let label_text = std::fs::read_to_string(&labels).unwrap();
    assert!(label_text.lines().count() > 0);
    // A perfect submission recalls everything for each type that has any truth.
    for kind in ["clicks", "carts", "orders"] {
        if label_text.contains(&format!("\"{kind}\"")) {
            assert_eq!(recall[kind].as_f64(), Some(1.0), "{kind}: {json}");
        }
    }
}

#[test]
fn evaluate_scores_an_empty_submission_zero() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(&["generate", "--out", s(dir.path()), "--sessions", "2000"]);
    let submission = dir.path().join("empty.csv");
    std::fs::write(&submission, "session_type,labels\n").unwrap();
    let labels = dir.path().join("test_labels.jsonl");
    let json = run_ok(&[
        "evaluate",
        "--labels",
        s(&labels),
        "--submission",
        s(&submission),
        "--json",
    ]);
    let recall: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(recall["total"].as_f64(), Some(0.0));
}

#[test]
fn a_malformed_line_exits_1_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.jsonl");
    std::fs::write(
        &input,
        "{\"session\":1,\"events\":[{\"aid\":1,\"ts\":1659304800000,\"type\":\"clicks\"}]}\n{\"session\":2,\"events\":[{\"aid\":-1,\"ts\":1,\"type\":\"clicks\"}]}\n",
    )
    .unwrap();
    let out = run(&[
        "split",
        "--input",
        s(&input),
        "--out",
        s(&dir.path().join("o")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.jsonl: line 2"), "{stderr}");
    assert!(
        !dir.path().join("o").exists(),
        "nothing is written on bad input"
    );
}

#[test]
fn bad_arguments_and_missing_files_exit_1() {
    assert_eq!(run(&["generate"]).status.code(), Some(1));
    let out = run(&[
        "split",
        "--input",
        "/nonexistent/x.jsonl",
        "--out",
        "/tmp/x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.jsonl"));
    assert_eq!(
        run(&["split", "--input", "x.csv", "--out", "/tmp/x"])
            .status
            .code(),
        Some(1)
    );
}

/// Without `--embeddings`, a small log gets item vectors with as many passes as pass over
/// 10M events (at most 10) and a next-item model with as many as pass over 30M (at most
/// 30); `off` leaves the vectors out and keeps the next-item model (a feature scorer of its
/// own), `--embeddings` alone is on, `--no-next-item` and `--next-item off` leave the model
/// out, and a value that is none of on, off and auto is refused before the input is read.
#[test]
fn embeddings_follow_the_size_of_the_log_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let input = "fixtures/world/train.jsonl";
    let manifest = |model: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(model.join("manifest.json")).unwrap()).unwrap()
    };
    let build = |name: &str, flags: &[&str]| {
        let model = dir.path().join(name);
        let mut args = vec!["build-index", "--input", input, "--model-dir", s(&model)];
        args.extend_from_slice(flags);
        let out = run(&args);
        (out, model)
    };
    let (out, auto) = build("auto", &[]);
    assert!(out.status.success());
    let events = manifest(&auto)["input"]["events"].as_u64().unwrap();
    assert!(events < 1_000_000, "the fixture is small: {events}");
    assert_eq!(manifest(&auto)["parameters"]["embedding"]["epochs"], 10);
    assert!(auto.join("item_vectors.f32").exists());
    let next = &manifest(&auto)["parameters"]["next_item"];
    assert_eq!(next["epochs"], 30);
    assert_eq!(next["dim"], 64);
    let shape = &manifest(&auto)["next_vectors"];
    let rows = shape["rows"].as_u64().unwrap();
    let size = std::fs::metadata(auto.join("next_item_vectors.f32"))
        .unwrap()
        .len();
    assert_eq!(size, 2 * rows * 64 * 4, "input and output rows of 64 f32");
    let (out, on) = build(
        "on",
        &[
            "--embeddings",
            "--embedding-epochs",
            "2",
            "--next-item-epochs",
            "3",
            "--next-item-dim",
            "8",
        ],
    );
    assert!(out.status.success());
    assert_eq!(manifest(&on)["parameters"]["embedding"]["epochs"], 2);
    let next = &manifest(&on)["parameters"]["next_item"];
    assert_eq!(
        (next["epochs"].as_u64(), next["dim"].as_u64()),
        (Some(3), Some(8))
    );
    for (name, flags) in [
        ("without", ["--no-next-item"].as_slice()),
        ("next-off", ["--next-item", "off"].as_slice()),
    ] {
        let (out, without) = build(name, flags);
        assert!(out.status.success());
        assert!(manifest(&without)["parameters"]["next_item"].is_null());
        assert!(manifest(&without)["next_vectors"].is_null());
        assert!(without.join("item_vectors.f32").exists());
        assert!(!without.join("next_item_vectors.f32").exists());
    }
    let (out, off) = build("off", &["--embeddings", "off"]);
    assert!(out.status.success());
    assert!(manifest(&off)["parameters"]["embedding"].is_null());
    assert!(!off.join("item_vectors.f32").exists());
    assert_eq!(manifest(&off)["parameters"]["next_item"]["epochs"], 30);
    assert!(off.join("next_item_vectors.f32").exists());
    for flags in [
        ["--embeddings", "maybe"],
        ["--next-item", "maybe"],
        ["--embedding-epochs", "many"],
        ["--next-item-epochs", "0"],
        ["--next-item-dim", "0"],
        ["--next-item-negatives", "1000"],
    ] {
        let (out, model) = build("bad", &flags);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flags[0]), "{stderr}");
        assert!(!model.exists());
    }
}

/// `--from-tables` takes its parameters from the job: index flags and `--input` are
/// refused, and a directory that is not a job's output is named with its problem.
#[test]
fn from_tables_refuses_index_flags_and_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let tables = dir.path().join("tables");
    std::fs::create_dir(&tables).unwrap();
    let model = dir.path().join("model");
    let (t, m) = (s(&tables), s(&model));
    let out = run(&[
        "build-index",
        "--from-tables",
        t,
        "--model-dir",
        m,
        "--tail",
        "20",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give index flags to the job"));
    let out = run(&[
        "build-index",
        "--from-tables",
        t,
        "--input",
        "x.parquet",
        "--model-dir",
        m,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&[
        "build-index",
        "--from-tables",
        t,
        "--model-dir",
        m,
        "--next-item",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give index flags to the job"));
    // Without index flags, the directory itself is the problem: it has no index.json.
    let out = run(&["build-index", "--from-tables", t, "--model-dir", m]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("index.json"), "{stderr}");
    assert!(!stderr.contains("give index flags"), "{stderr}");
    assert!(!model.exists());
}
