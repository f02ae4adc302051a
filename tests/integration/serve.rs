//! `serve`: the real server on a free port, real HTTP.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::common::{Server, run, run_ok, s};

/// A model directory (index and rankers) built from the committed fixture world.
fn fixture_model(dir: &Path) -> PathBuf {
    let model = dir.join("model");
    let input = "fixtures/world/train.jsonl";
    run_ok(&["build-index", "--input", input, "--model-dir", s(&model)]);
    run_ok(&[
        "train",
        "--input",
        input,
        "--model-dir",
        s(&model),
        "--max-trees",
        "40",
    ]);
    model
}

fn readme_example() -> serde_json::Value {
    json!({"aids":[429240,588903,170046,429240,170046],
           "timestamps":[1674210000,1674220000,1674830000,1674832100,1674832437],
           "event_types":[0,1,1,1,2]})
}

#[test]
fn the_readme_example_gets_the_documented_shape_and_type_and_k_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&fixture_model(dir.path()));
    let (status, body) = server.predict(&readme_example());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["type"], "orders");
    assert_eq!(body["aids"], readme_example()["aids"]);
    assert_eq!(body["event_types"], readme_example()["event_types"]);
    let items = body["recommendation"].as_array().unwrap();
    let scores: Vec<f64> = body["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(items.len(), 20);
    assert_eq!(scores.len(), 20);
    assert!(scores.windows(2).all(|w| w[0] >= w[1]));

    let mut request = readme_example();
    request["type"] = json!("clicks");
    request["k"] = json!(5);
    let (status, body) = server.predict(&request);
    assert_eq!(status, 200);
    assert_eq!(body["type"], "clicks");
    assert_eq!(body["recommendation"].as_array().unwrap().len(), 5);
}

#[test]
fn every_error_has_its_status_and_a_json_message_and_the_server_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&fixture_model(dir.path()));
    let events = |n: usize| json!({"aids": vec![1; n], "timestamps": vec![1_661_000_000; n], "event_types": vec![0; n]});
    let body = |v: serde_json::Value| v.to_string().into_bytes();
    let cases: Vec<(Vec<u8>, u16, &str, &str)> = vec![
        (
            b"{\"aids\":[1,2".to_vec(),
            400,
            "malformed_json",
            "malformed JSON",
        ),
        (
            b"not json".to_vec(),
            400,
            "malformed_json",
            "malformed JSON",
        ),
        (
            body(json!({"aids":[1,2],"timestamps":[1],"event_types":[0,0]})),
            422,
            "length_mismatch",
            "same length",
        ),
        (
            body(json!({"aids":[],"timestamps":[],"event_types":[]})),
            422,
            "empty_session",
            "empty",
        ),
        (
            body(json!({"aids":[1],"timestamps":[1],"event_types":[7]})),
            422,
            "invalid_event_type",
            "event_types[0]",
        ),
        (
            body(json!({"aids":[-4],"timestamps":[1],"event_types":[0]})),
            422,
            "invalid_aid",
            "aids[0]",
        ),
        (
            body(json!({"aids":[1],"timestamps":[-1],"event_types":[0]})),
            422,
            "invalid_timestamp",
            "timestamps[0]",
        ),
        (
            body(json!({"aids":[1],"timestamps":[1],"event_types":[0],"type":"views"})),
            422,
            "invalid_type",
            "views",
        ),
        (
            body(json!({"aids":[1],"timestamps":[1],"event_types":[0],"k":0})),
            422,
            "invalid_k",
            "k = 0",
        ),
        (
            body(json!({"aids":[1.5],"timestamps":[1],"event_types":[0]})),
            422,
            "invalid_field",
            "invalid type",
        ),
        (
            body(json!({"timestamps":[1],"event_types":[0]})),
            422,
            "invalid_field",
            "missing field",
        ),
        (body(events(501)), 422, "too_many_events", "501 events"),
        (vec![b' '; 300 * 1024], 413, "payload_too_large", "exceeds"),
    ];
    for (body, status, code, message) in cases {
        let (got, text) = server.request("POST", "/predict", &body);
        assert_eq!(got, status, "{message}: {text}");
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(v["status"], "error");
        assert_eq!(v["code"], code, "{text}");
        assert!(
            v["message"].as_str().unwrap().contains(message),
            "{message}: {text}"
        );
    }
    let (status, text) = server.request("GET", "/nowhere", b"");
    assert_eq!(status, 404);
    assert!(text.contains("\"code\":\"not_found\""), "{text}");
    let (status, text) = server.request("GET", "/predict", b"");
    assert_eq!(status, 405);
    assert!(text.contains("\"code\":\"method_not_allowed\""), "{text}");
    // Unknown aids and out-of-order events are not errors.
    let (status, body) =
        server.predict(&json!({"aids":[999999999, 5],"timestamps":[20, 10],"event_types":[0, 1]}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recommendation"].as_array().unwrap().len(), 20);
    assert_eq!(server.predict(&readme_example()).0, 200);
}

#[test]
fn http_answers_equal_predict_jsonl_for_200_sessions_with_rankers() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture_model(dir.path());
    // The parity covers the embedding channel: the bundle has vectors and similar items,
    // and its rankers read the embedding features.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("manifest.json")).unwrap())
            .unwrap();
    assert!(
        manifest["vectors"]["rows"].as_u64().unwrap() > 0,
        "{manifest}"
    );
    assert_eq!(manifest["training"]["embeddings"], true);
    assert!(model.join("similar_items.parquet").exists());
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
    let expected: Vec<serde_json::Value> = std::fs::read_to_string(&lists)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sessions: Vec<serde_json::Value> = std::fs::read_to_string("fixtures/world/test.jsonl")
        .unwrap()
        .lines()
        .take(200)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(sessions.len(), 200);
    let server = Server::start(&model);
    for (session, want) in sessions.iter().zip(&expected) {
        assert_eq!(session["session"], want["session"]);
        let events = session["events"].as_array().unwrap();
        let codes = |t: &str| match t {
            "clicks" => 0,
            "carts" => 1,
            _ => 2,
        };
        let mut request = json!({
            "aids": events.iter().map(|e| e["aid"].clone()).collect::<Vec<_>>(),
            "timestamps": events.iter().map(|e| e["ts"].as_u64().unwrap() / 1000).collect::<Vec<_>>(),
            "event_types": events.iter().map(|e| codes(e["type"].as_str().unwrap())).collect::<Vec<_>>(),
        });
        for kind in ["clicks", "carts", "orders"] {
            request["type"] = json!(kind);
            let (status, got) = server.predict(&request);
            assert_eq!(status, 200);
            assert_eq!(
                got["recommendation"], want[kind]["recommendation"],
                "session {} {kind}",
                session["session"]
            );
            assert_eq!(
                got["scores"], want[kind]["scores"],
                "session {} {kind}",
                session["session"]
            );
        }
    }
}

#[test]
fn health_and_metrics_report_what_was_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&fixture_model(dir.path()));
    let (status, health) = server.request("GET", "/health", b"");
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "ok");
    assert!(health["model"]["items"].as_u64().unwrap() > 0);
    assert_eq!(health["model"]["rankers"], true);
    for _ in 0..3 {
        server.predict(&readme_example());
    }
    server.request("POST", "/predict", b"{");
    let (status, metrics) = server.request("GET", "/metrics", b"");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("otto_requests_total{route=\"/predict\",status=\"200\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("otto_requests_total{route=\"/predict\",status=\"400\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("otto_request_duration_seconds_count{route=\"/predict\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("otto_sessions_scored_total 3"),
        "{metrics}"
    );
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&fixture_model(dir.path()));
    assert_eq!(server.predict(&readme_example()).0, 200);
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(server.wait().success());
}

#[test]
fn a_missing_or_corrupt_model_dir_exits_1_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "serve",
        "--model-dir",
        s(&dir.path().join("absent")),
        "--port",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("absent"));

    let model = fixture_model(dir.path());
    std::fs::write(model.join("covisit_buy2buy.parquet"), b"garbage").unwrap();
    let out = run(&["serve", "--model-dir", s(&model), "--port", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("covisit_buy2buy.parquet"), "{stderr}");
}
