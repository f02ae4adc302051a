//! `serve`: the real server on a free port, real HTTP.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::json;

use crate::common::{Server, fixture_index, run, run_ok, s};

/// A model directory (index and rankers) from the committed fixture world: a copy, in
/// `dir`, of one bundle built once per test binary (the tests that damage or reload their
/// bundle change only their copy).
pub fn fixture_model(dir: &Path) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-fixture");
        let _ = std::fs::remove_dir_all(&root);
        let model = root.join("model");
        fixture_index(&model, &["--embeddings"]);
        run_ok(&[
            "train",
            "--input",
            "fixtures/world/train.jsonl",
            "--model-dir",
            s(&model),
            "--max-trees",
            "40",
        ]);
        model
    });
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for entry in std::fs::read_dir(built).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, model.join(path.file_name().unwrap())).unwrap();
        }
    }
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

    // The top of u32 is a valid aid and a valid time: answered, not a dropped connection.
    let top = u32::MAX;
    let (status, body) = server.predict(&json!({"aids":[top, 429240, top],
        "timestamps":[top - 7, top - 1, top], "event_types":[0, 0, 1]}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recommendation"].as_array().unwrap().len(), 20);
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
    // A 405 names the allowed method (RFC 9110), on every route.
    for (method, path, allow) in [
        ("GET", "/predict", "post"),
        ("POST", "/health", "get"),
        ("DELETE", "/metrics", "get"),
        ("POST", "/livez", "get"),
        ("PUT", "/readyz", "get"),
        ("GET", "/admin/reload", "post"),
        ("POST", "/openapi.json", "get"),
        ("POST", "/docs", "get"),
    ] {
        let (status, head, text) = server.exchange(method, path, &[], b"");
        assert_eq!(status, 405, "{method} {path}");
        assert!(
            head.contains(&format!("allow: {allow}")),
            "{method} {path}: {head}"
        );
        assert!(text.contains("\"code\":\"method_not_allowed\""), "{text}");
    }
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

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

/// Probes, the model version in every answer, and hot reload: by SIGHUP, by the admin
/// route (token checked), to another directory; a broken bundle is refused with its code
/// while the old model keeps serving, and the failure is counted.
#[test]
fn probes_versions_and_hot_reload_keep_serving_through_failures() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture_model(dir.path());
    let plain = dir.path().join("plain");
    fixture_index(&plain, &["--embeddings", "off"]);
    let server = Server::start_with_env(&model, &[("OTTO_ADMIN_TOKEN", "s3cret")]);
    let example = readme_example().to_string();
    let (status, head, _) = server.exchange("POST", "/predict", &[], example.as_bytes());
    assert_eq!(status, 200);
    let version = header(&head, "x-model-version")
        .expect("version header")
        .to_string();
    assert_eq!(version.len(), 16);
    let (status, _, live) = server.exchange("GET", "/livez", &[], b"");
    assert_eq!((status, live.contains("ok")), (200, true));
    let (status, _, ready) = server.exchange("GET", "/readyz", &[], b"");
    assert_eq!(status, 200);
    assert!(ready.contains(&version), "{ready}");

    // The admin route needs the token.
    for auth in [
        &[][..],
        &["Authorization: Bearer wrong"][..],
        &["Authorization: s3cret"][..],
    ] {
        let (status, _, body) = server.exchange("POST", "/admin/reload", auth, b"");
        assert_eq!(status, 401, "{auth:?}");
        assert!(body.contains("\"code\":\"unauthorized\""), "{body}");
    }
    let auth = ["Authorization: Bearer s3cret"];
    // A JSON null body, valid by the document, reloads the same directory.
    let (status, _, body) = server.exchange("POST", "/admin/reload", &auth, b"null");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&version), "{body}");
    // Any other JSON than an object or null is refused, as the document says.
    for bad in [&b"[null]"[..], b"[null, null]", b"3", b"\"x\""] {
        let (status, _, body) = server.exchange("POST", "/admin/reload", &auth, bad);
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("\"code\":\"malformed_json\""), "{body}");
    }
    let (status, _, body) = server.exchange("POST", "/admin/reload", &auth, br#"{"x":1}"#);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("\"code\":\"invalid_field\""), "{body}");
    // A reload to a directory that is not a bundle fails; the old model keeps serving.
    let request = format!("{{\"model_dir\":{:?}}}", s(dir.path()));
    let (status, _, body) = server.exchange("POST", "/admin/reload", &auth, request.as_bytes());
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("\"code\":\"manifest_missing\""), "{body}");
    let (status, head, _) = server.exchange("POST", "/predict", &[], example.as_bytes());
    assert_eq!(status, 200);
    assert_eq!(header(&head, "x-model-version"), Some(version.as_str()));
    let (_, metrics) = server.request("GET", "/metrics", b"");
    assert!(
        metrics.contains("otto_model_reloads_total{result=\"error\"} 1"),
        "{metrics}"
    );

    // A reload to another bundle swaps it in; its version answers from then on.
    let request = format!("{{\"model_dir\":{:?}}}", s(&plain));
    let (status, _, body) = server.exchange("POST", "/admin/reload", &auth, request.as_bytes());
    assert_eq!(status, 200, "{body}");
    let reloaded: serde_json::Value = serde_json::from_str(&body).unwrap();
    let plain_version = reloaded["model"]["version"].as_str().unwrap().to_string();
    assert_ne!(plain_version, version);
    assert_eq!(reloaded["model"]["embeddings"], false);
    let (status, head, _) = server.exchange("POST", "/predict", &[], example.as_bytes());
    assert_eq!(status, 200);
    assert_eq!(
        header(&head, "x-model-version"),
        Some(plain_version.as_str())
    );
    let (_, health) = server.request("GET", "/health", b"");
    assert!(health.contains(&plain_version), "{health}");

    // SIGHUP reloads the current directory: corrupt it first, and the reload fails with
    // the old model serving; repair it, and the reload succeeds.
    let manifest = plain.join("manifest.json");
    let good = std::fs::read(&manifest).unwrap();
    std::fs::write(&manifest, b"{ corrupt").unwrap();
    let hangup = || {
        let sent = std::process::Command::new("kill")
            .args(["-HUP", &server.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    let reloads = |result: &str| -> u64 {
        let (_, metrics) = server.request("GET", "/metrics", b"");
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("otto_model_reloads_total{{result=\"{result}\"}} "))
            })
            .unwrap()
            .parse()
            .unwrap()
    };
    let wait_for = |result: &str, n: u64| {
        for _ in 0..200 {
            if reloads(result) >= n {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("no {result} reload counted");
    };
    hangup();
    wait_for("error", 2);
    let (status, head, _) = server.exchange("POST", "/predict", &[], example.as_bytes());
    assert_eq!(status, 200);
    assert_eq!(
        header(&head, "x-model-version"),
        Some(plain_version.as_str())
    );
    std::fs::write(&manifest, &good).unwrap();
    hangup();
    wait_for("ok", 2);
    let (status, head, _) = server.exchange("POST", "/predict", &[], example.as_bytes());
    assert_eq!(status, 200);
    assert_eq!(
        header(&head, "x-model-version"),
        Some(plain_version.as_str())
    );
}

/// Without OTTO_ADMIN_TOKEN the admin route does not exist.
#[test]
fn the_admin_route_is_off_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    fixture_index(&model, &[]);
    let server = Server::start(&model);
    let (status, _, body) = server.exchange(
        "POST",
        "/admin/reload",
        &["Authorization: Bearer anything"],
        b"",
    );
    assert_eq!(status, 404, "{body}");
}

/// Beyond --max-in-flight a request gets 503 `overloaded` at once while the probes keep
/// answering; a client that sends no request head within the timeout gets 408.
#[test]
fn limits_refuse_cleanly_beyond_the_in_flight_cap_and_time_out_silent_clients() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    fixture_index(&model, &[]);
    // A generous client timeout here: the held request must not time out while the
    // test's other requests run on a loaded machine.
    let server = Server::start_with(
        &model,
        &[],
        &["--max-in-flight", "1", "--client-timeout-ms", "30000"],
    );
    let example = readme_example().to_string();
    // A request whose body is still arriving holds the one slot.
    let mut slow = std::net::TcpStream::connect(&server.addr).unwrap();
    let head = format!(
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        example.len()
    );
    slow.write_all(head.as_bytes()).unwrap();
    slow.write_all(&example.as_bytes()[..10]).unwrap();
    // Let the server admit it before anything else arrives (a request in flight at that
    // moment would take the slot and the held one would be the one refused).
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut refused = false;
    for _ in 0..100 {
        let (status, body) = server.request("POST", "/predict", example.as_bytes());
        if status == 503 {
            assert!(body.contains("\"code\":\"overloaded\""), "{body}");
            refused = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(refused, "no 503 while the slot was held");
    assert_eq!(server.request("GET", "/livez", b"").0, 200);
    assert_eq!(server.request("GET", "/readyz", b"").0, 200);
    // The held request completes normally, and frees the slot.
    slow.write_all(&example.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(server.predict(&readme_example()).0, 200);

    // A connection that sends nothing is answered 408 after the timeout.
    let server = Server::start_with(&model, &[], &["--client-timeout-ms", "300"]);
    let mut silent = std::net::TcpStream::connect(&server.addr).unwrap();
    silent
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    let _ = silent.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
}
