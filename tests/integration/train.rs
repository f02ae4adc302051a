//! `train` through the binary: rankers written, reported, and checked at load.

use crate::common::{run, run_ok, s};

#[test]
fn train_writes_three_rankers_with_a_report_and_predict_uses_them() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    // No index yet: train builds one from the whole input, then adds the rankers.
    let report = run_ok(&[
        "train",
        "--input",
        "fixtures/world/train.jsonl",
        "--model-dir",
        s(&model),
        "--max-trees",
        "40",
    ]);
    for row in ["candidates", "heuristic", "ranker"] {
        assert!(
            report.lines().any(|l| l.starts_with(row)),
            "{row} missing in\n{report}"
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("manifest.json")).unwrap())
            .unwrap();
    for kind in ["clicks", "carts", "orders"] {
        let name = format!("ranker_{kind}.txt");
        assert!(
            manifest["files"][&name]["xxh3"].is_string(),
            "{name} not in the manifest"
        );
        let text = std::fs::read_to_string(model.join(&name)).unwrap();
        assert!(
            text.contains("feature_names=session_events"),
            "LightGBM text model with our feature names"
        );
    }
    let ranker = &manifest["training"]["holdout_recall"]["ranker"];
    assert!(ranker["total"].as_f64().unwrap() > 0.0);

    let lists = dir.path().join("lists.jsonl");
    run_ok(&[
        "predict",
        "--input",
        "fixtures/world/test.jsonl",
        "--model-dir",
        s(&model),
        "--output",
        s(&lists),
    ]);
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&lists)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let scores = first["orders"]["scores"].as_array().unwrap();
    // Ranker scores are probabilities, unlike the heuristic's position scores.
    assert!(
        scores
            .iter()
            .all(|v| (0.0..=1.0).contains(&v.as_f64().unwrap())),
        "{first}"
    );
}

#[test]
fn a_ranker_trained_on_other_features_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    run_ok(&[
        "train",
        "--input",
        "fixtures/world/train.jsonl",
        "--model-dir",
        s(&model),
        "--max-trees",
        "20",
    ]);
    let path = model.join("ranker_clicks.txt");
    let text =
        std::fs::read_to_string(&path)
            .unwrap()
            .replacen("session_events", "session_length", 1);
    std::fs::write(&path, text).unwrap();
    // Make the manifest agree with the edited file, so the feature check is what refuses it.
    let manifest_path = model.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    let entry = otto_rec::bundle::checksum(&path).unwrap();
    manifest["files"]["ranker_clicks.txt"] = serde_json::to_value(&entry).unwrap();
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();

    let out = run(&["serve", "--model-dir", s(&model), "--port", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ranker_clicks.txt") && stderr.contains("features"),
        "{stderr}"
    );
}
