//! `train` through the binary: rankers written, reported, and checked at load.

use crate::common::{fixture_index, run, run_ok, s, train_cheaply};

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
        "--folds",
        "1",
        "--cuts",
        "1",
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
    // The index train built is build-index's default one, next-item model included.
    assert!(manifest["parameters"]["next_item"].is_object());
    assert!(model.join("next_item_vectors.f32").exists());
    assert_eq!(manifest["training"]["next_item"], true);
    let ranker = &manifest["training"]["holdout_recall"]["ranker"];
    assert!(ranker["total"].as_f64().unwrap() > 0.0);
    for kind in ["clicks", "carts", "orders"] {
        let target = &manifest["training"]["targets"][kind];
        let kept = target["objective"].as_str().unwrap();
        assert!(["binary", "lambdarank"].contains(&kept), "{target}");
        // Both objectives were measured (the one dropped after the probe at that point);
        // the kept one scores at least as well.
        let recall = &target["validation_recall"];
        let best = recall["binary"]
            .as_f64()
            .unwrap()
            .max(recall["lambdarank"].as_f64().unwrap());
        assert_eq!(recall[kept].as_f64().unwrap(), best, "{target}");
    }

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
    // Ranker scores are model outputs (probabilities or ranking scores), unlike the
    // heuristic's position scores 20, 19, ...
    assert!(
        scores.len() == 20 && scores.iter().any(|v| v.as_f64().unwrap().fract() != 0.0),
        "{first}"
    );
}

#[test]
fn a_ranker_trained_on_other_features_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    train_cheaply("fixtures/world/train.jsonl", &model, "20", &[]);
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

/// What a user relies on: on the held-out part of the world it trains on, the ranker beats
/// the heuristic on every objective.
#[test]
fn the_ranker_beats_the_heuristic_on_every_objective_held_out() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world");
    run_ok(&[
        "generate",
        "--out",
        s(&world),
        "--sessions",
        "40000",
        "--seed",
        "11",
    ]);
    let model = dir.path().join("model");
    run_ok(&[
        "train",
        "--input",
        s(&world.join("train.jsonl")),
        "--model-dir",
        s(&model),
        "--max-trees",
        "80",
    ]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("manifest.json")).unwrap())
            .unwrap();
    let recall = &manifest["training"]["holdout_recall"];
    for kind in ["clicks", "carts", "orders", "total"] {
        let heuristic = recall["heuristic"][kind].as_f64().unwrap();
        let ranker = recall["ranker"][kind].as_f64().unwrap();
        assert!(
            ranker > heuristic,
            "{kind}: ranker {ranker:.4} vs heuristic {heuristic:.4}"
        );
    }
}

fn has_rankers(model: &std::path::Path) -> bool {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("manifest.json")).unwrap())
            .unwrap();
    manifest["files"]["ranker_orders.txt"].is_object() && manifest["training"].is_object()
}

/// The competition's flow: rankers trained on the local split, then the serving index
/// rebuilt over more events. The rebuild keeps the rankers (and says so); only
/// `--drop-rankers` removes them.
#[test]
fn rebuilding_the_index_keeps_the_rankers() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    let input = "fixtures/world/train.jsonl";
    train_cheaply(input, &model, "20", &[]);
    let ranker_text = std::fs::read(model.join("ranker_orders.txt")).unwrap();
    let out = run(&[
        "build-index",
        "--input",
        input,
        "--input",
        "fixtures/world/test.jsonl",
        "--model-dir",
        s(&model),
    ]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("kept the bundle's rankers"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(has_rankers(&model));
    assert_eq!(
        std::fs::read(model.join("ranker_orders.txt")).unwrap(),
        ranker_text
    );
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
    run_ok(&[
        "build-index",
        "--input",
        input,
        "--model-dir",
        s(&model),
        "--drop-rankers",
    ]);
    assert!(!has_rankers(&model));
    assert!(!model.join("ranker_orders.txt").exists());
}

/// Only a missing manifest means "no index yet": a damaged bundle is an error naming the
/// file, and the directory is left as it was.
#[test]
fn train_refuses_a_damaged_bundle_instead_of_rebuilding_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    run_ok(&[
        "build-index",
        "--input",
        "fixtures/world/train.jsonl",
        "--model-dir",
        s(&model),
    ]);
    std::fs::write(model.join("manifest.json"), "{ corrupt").unwrap();
    let out = run(&[
        "train",
        "--input",
        "fixtures/world/train.jsonl",
        "--model-dir",
        s(&model),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("manifest.json is corrupt"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(model.join("manifest.json")).unwrap(),
        "{ corrupt"
    );
}

/// A bundle file gone missing is reported before the training, not after it (the rankers
/// are written beside the bundle's files, so it would be refused then), and nothing is
/// written.
#[test]
fn a_damaged_bundle_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    fixture_index(&model, &["--no-next-item"]);
    std::fs::remove_file(model.join("item_stats.parquet")).unwrap();
    let out = run(&[
        "train",
        "--input",
        "fixtures/world/train.jsonl",
        "--model-dir",
        s(&model),
        "--max-trees",
        "20",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("item_stats.parquet"), "{stderr}");
    // Refused before the index is taken up for training, not after the training.
    assert!(!stderr.contains("keeping the index"), "{stderr}");
    assert!(!model.join("ranker_clicks.txt").exists());
}

/// Embeddings are optional: a bundle without them (`--embeddings off`, as older bundles
/// are) trains, predicts and serves; rankers that read embedding features are never left
/// without the vectors — a rebuild without embeddings refuses to keep them, and a bundle that has lost its
/// vectors is refused at load with its code.
#[test]
fn bundles_without_embeddings_work_and_rankers_never_lose_their_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let input = "fixtures/world/train.jsonl";
    let test = "fixtures/world/test.jsonl";
    let plain = dir.path().join("plain");
    fixture_index(&plain, &["--embeddings", "off"]);
    assert!(!plain.join("similar_items.parquet").exists());
    assert!(!plain.join("item_vectors.f32").exists());
    train_cheaply(input, &plain, "10", &[]);
    let lists = dir.path().join("plain.jsonl");
    run_ok(&[
        "predict",
        "--input",
        test,
        "--model-dir",
        s(&plain),
        "--output",
        s(&lists),
    ]);

    let model = dir.path().join("model");
    fixture_index(&model, &["--embeddings"]);
    train_cheaply(input, &model, "10", &[]);
    assert_rebuild_refused(&model, input, &["--embeddings", "off"], "--drop-rankers");
    assert_rebuild_refused(&model, input, &["--no-next-item"], "next-item");

    // The same bundle without its next-item model, then without any vectors.
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&model).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    remove_from_bundle(&copy, &["next_item_vectors.f32"], |manifest| {
        manifest.as_object_mut().unwrap().remove("next_vectors");
        manifest["parameters"]["next_item"] = serde_json::Value::Null;
    });
    assert_predict_refused(&copy, test, &dir.path().join("x.csv"), "next-item model");

    // The same bundle with its vectors taken out of the manifest and the directory.
    remove_from_bundle(
        &model,
        &["item_vectors.f32", "similar_items.parquet"],
        |manifest| {
            manifest.as_object_mut().unwrap().remove("vectors");
            manifest["parameters"]["embedding"] = serde_json::Value::Null;
        },
    );
    assert_predict_refused(&model, test, &dir.path().join("x.csv"), "embedding");
}

/// A rebuild of the index in `model` from `input` with `flags` exits 1 saying `says`, and
/// leaves the bundle as it was.
fn assert_rebuild_refused(model: &std::path::Path, input: &str, flags: &[&str], says: &str) {
    let before = std::fs::read(model.join("manifest.json")).unwrap();
    let mut args = vec!["build-index", "--input", input, "--model-dir", s(model)];
    args.extend_from_slice(flags);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(says), "{stderr}");
    assert_eq!(std::fs::read(model.join("manifest.json")).unwrap(), before);
}

/// Takes `files` out of the bundle in `model`, and out of its manifest, which `edit` then
/// changes further.
fn remove_from_bundle(
    model: &std::path::Path,
    files: &[&str],
    edit: impl FnOnce(&mut serde_json::Value),
) {
    let text = std::fs::read(model.join("manifest.json")).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&text).unwrap();
    for file in files {
        manifest["files"].as_object_mut().unwrap().remove(*file);
        std::fs::remove_file(model.join(file)).unwrap();
    }
    edit(&mut manifest);
    std::fs::write(
        model.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
}

/// `predict` of `test` with the bundle in `model` exits 1 with `needle` in its message.
fn assert_predict_refused(
    model: &std::path::Path,
    test: &str,
    output: &std::path::Path,
    needle: &str,
) {
    let out = run(&[
        "predict",
        "--input",
        test,
        "--model-dir",
        s(model),
        "--output",
        s(output),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(needle), "{stderr}");
}

/// The session index is built by default and its rankers are never left without it: the
/// manifest records that they read it, a rebuild with `--no-sessions` refuses to keep them,
/// and a bundle that has lost it is refused at load. `--knn 0` trains rankers that do not
/// read it, and a bundle built with `--no-sessions` trains, predicts and serves without it.
#[test]
fn session_knn_is_built_by_default_and_rankers_never_lose_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = "fixtures/world/train.jsonl";
    let test = "fixtures/world/test.jsonl";
    let model = dir.path().join("model");
    run_ok(&["build-index", "--input", input, "--model-dir", s(&model)]);
    assert!(model.join("sessions.u32").exists());
    let train = |model: &std::path::Path, extra: &[&str]| {
        train_cheaply(input, model, "10", extra);
        let text = std::fs::read(model.join("manifest.json")).unwrap();
        serde_json::from_slice::<serde_json::Value>(&text).unwrap()
    };
    let manifest = train(&model, &[]);
    assert_eq!(manifest["training"]["session_knn"], true);
    assert_eq!(
        manifest["training"]["candidates"]["knn"],
        otto_rec::candidates::CandidateConfig::default().knn
    );
    assert!(
        manifest["files"]["sessions.u32"]["xxh3"].is_string(),
        "{manifest}"
    );
    assert_rebuild_refused(&model, input, &["--no-sessions"], "similar past sessions");

    // The same bundle with its session index taken out of the manifest and the directory.
    remove_from_bundle(&model, &["sessions.u32"], |manifest| {
        manifest["parameters"]["sessions"] = serde_json::Value::Null;
    });
    let csv = dir.path().join("x.csv");
    assert_predict_refused(&model, test, &csv, "similar past sessions");

    // Without the session index, or with rankers that do not read it.
    let plain = dir.path().join("plain");
    run_ok(&[
        "build-index",
        "--input",
        input,
        "--model-dir",
        s(&plain),
        "--no-sessions",
    ]);
    assert!(!plain.join("sessions.u32").exists());
    assert_eq!(train(&plain, &[])["training"]["session_knn"], false);
    run_ok(&[
        "predict",
        "--input",
        test,
        "--model-dir",
        s(&plain),
        "--output",
        s(&csv),
    ]);
    let off = dir.path().join("off");
    run_ok(&["build-index", "--input", input, "--model-dir", s(&off)]);
    assert_eq!(
        train(&off, &["--knn", "0"])["training"]["session_knn"],
        false
    );
    run_ok(&[
        "build-index",
        "--input",
        input,
        "--model-dir",
        s(&off),
        "--no-sessions",
    ]);
    run_ok(&[
        "predict",
        "--input",
        test,
        "--model-dir",
        s(&off),
        "--output",
        s(&csv),
    ]);
}

/// Every file of a bundle by name, the manifest without its creation time.
fn bundle_files(model: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(model).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut bytes = std::fs::read(&path).unwrap();
        if name == "manifest.json" {
            let mut manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            manifest["created_at"].take();
            bytes = serde_json::to_vec_pretty(&manifest).unwrap();
        }
        files.insert(name, bytes);
    }
    files
}

/// The same input, flags and seeds give the same bundle, byte for byte, whether
/// `build-index` and `train` run on one thread, two or four.
#[test]
fn build_index_and_train_give_the_same_bundle_on_any_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    let mut bundles = Vec::new();
    for threads in ["1", "2", "4"] {
        let model = dir.path().join(format!("model-{threads}"));
        let env = [("RAYON_NUM_THREADS", threads)];
        let args = [
            "--input",
            "fixtures/world/train.jsonl",
            "--model-dir",
            s(&model),
        ];
        for (command, flags) in [
            ("build-index", &[][..]),
            // Two labelled periods: the vectors are refitted for each (the part to check);
            // one cut and one objective keep LightGBM's share small.
            (
                "train",
                &[
                    "--max-trees",
                    "20",
                    "--folds",
                    "2",
                    "--cuts",
                    "1",
                    "--objective",
                    "binary",
                ][..],
            ),
        ] {
            let out = crate::common::otto_rec()
                .envs(env)
                .arg(command)
                .args(args)
                .args(flags)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{command} on {threads} threads: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        bundles.push((threads, bundle_files(&model)));
    }
    let (_, one) = &bundles[0];
    assert!(one.contains_key("ranker_clicks.txt") && one.contains_key("item_vectors.f32"));
    for (threads, other) in &bundles[1..] {
        assert_eq!(
            one.keys().collect::<Vec<_>>(),
            other.keys().collect::<Vec<_>>(),
            "the files of 1 and {threads} threads"
        );
        for (name, bytes) in one {
            assert!(
                bytes == &other[name],
                "{name} differs between 1 and {threads} threads"
            );
        }
    }
}

/// A log of six days trains with the default flags (the labelled period follows the log's
/// span), and a labelled period too long for it is refused with the flag that fixes it.
#[test]
fn a_six_day_log_trains_with_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("fixtures/world/train.jsonl").unwrap();
    let sessions: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = sessions
        .iter()
        .flat_map(|s| s["events"].as_array().unwrap())
        .map(|e| e["ts"].as_u64().unwrap())
        .max()
        .unwrap();
    let start = last - 6 * 86_400_000;
    let mut six_days = String::new();
    for mut session in sessions {
        let events = session["events"].as_array_mut().unwrap();
        events.retain(|e| e["ts"].as_u64().unwrap() >= start);
        if !events.is_empty() {
            six_days.push_str(&session.to_string());
            six_days.push('\n');
        }
    }
    let input = dir.path().join("six-days.jsonl");
    std::fs::write(&input, six_days).unwrap();
    let model = dir.path().join("model");
    let args = [
        "--input",
        s(&input),
        "--model-dir",
        s(&model),
        "--max-trees",
        "20",
    ];

    let refused = run(&[&["train", "--days", "7"][..], &args].concat());
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("try `--days 1`"), "{stderr}");

    run_ok(&[&["train"][..], &args].concat());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["training"]["days"], 1, "{}", manifest["training"]);
}
