//! Live sessions: `POST /events`, `POST /predict` by session id, `GET` and `DELETE
//! /sessions/{id}`, the store's bounds and its snapshot, on the real server.

use serde_json::{Value, json};

use crate::common::{Server, otto_rec, s};
use crate::serve::fixture_model;

/// The first `n` sessions of the fixture world's test file as `POST /events` events (their
/// times in seconds, their types by name or code alternately).
fn fixture_events(n: usize) -> Vec<Vec<Value>> {
    std::fs::read_to_string("fixtures/world/test.jsonl")
        .unwrap()
        .lines()
        .take(n)
        .enumerate()
        .map(|(i, line)| {
            let session: Value = serde_json::from_str(line).unwrap();
            let id = format!("visitor-{i}-{}", session["session"]);
            session["events"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(j, e)| {
                    let name = e["type"].as_str().unwrap();
                    let kind = if j % 2 == 0 {
                        json!(name)
                    } else {
                        json!(["clicks", "carts", "orders"].iter().position(|t| *t == name).unwrap())
                    };
                    json!({"session": id, "aid": e["aid"], "ts": e["ts"].as_u64().unwrap() / 1000, "type": kind})
                })
                .collect()
        })
        .collect()
}

/// A pseudo-random order (a fixed linear congruential sequence).
fn shuffled<T>(mut items: Vec<T>, seed: u64) -> Vec<T> {
    let mut state = seed;
    for i in (1..items.len()).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        items.swap(i, (state >> 33) as usize % (i + 1));
    }
    items
}

fn post_events(server: &Server, events: &[Value]) -> (u16, Value) {
    let (status, body) = server.request(
        "POST",
        "/events",
        json!({ "events": events }).to_string().as_bytes(),
    );
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

fn get_session(server: &Server, id: &str) -> (u16, Value) {
    let (status, body) = server.request("GET", &format!("/sessions/{id}"), b"");
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

/// Events streamed in shuffled batches, every batch sent twice (at-least-once delivery), are
/// stored once each, in time order, the newest 30 per session; recommendations by session id
/// (alone, and with events of the request's own) equal the stateless request carrying the
/// same events, for every objective.
#[test]
fn streamed_events_are_kept_once_and_predict_by_session_equals_the_stateless_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&fixture_model(dir.path()));
    let sessions = fixture_events(60);
    let all: Vec<Value> = shuffled(sessions.concat(), 7);
    let mut stored = 0;
    for batch in all.chunks(97) {
        for attempt in 0..2 {
            let (status, body) = post_events(&server, batch);
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["status"], "success");
            if attempt == 1 {
                assert_eq!(body["stored"], 0, "a resent batch stores nothing: {body}");
                let not_kept =
                    body["duplicates"].as_u64().unwrap() + body["older"].as_u64().unwrap();
                assert_eq!(not_kept, batch.len() as u64);
            }
            stored += body["stored"].as_u64().unwrap();
        }
    }
    let mut held = 0;
    let mut longer_than_the_bound = 0;
    for (i, events) in sessions.iter().enumerate() {
        let id = events[0]["session"].as_str().unwrap();
        let (status, got) = get_session(&server, id);
        assert_eq!(status, 200, "{got}");
        // What the store should hold: the session's distinct events, in time order (a
        // stable order among equal times is not promised across batches), the newest 30.
        let mut want: Vec<(u64, u64)> = events
            .iter()
            .map(|e| (e["ts"].as_u64().unwrap(), e["aid"].as_u64().unwrap()))
            .collect();
        want.sort();
        want.dedup();
        let kept: Vec<(u64, u64)> = got["timestamps"]
            .as_array()
            .unwrap()
            .iter()
            .zip(got["aids"].as_array().unwrap())
            .map(|(t, a)| (t.as_u64().unwrap(), a.as_u64().unwrap()))
            .collect();
        let mut kept_sorted = kept.clone();
        kept_sorted.sort();
        assert!(
            kept.windows(2).all(|w| w[0].0 <= w[1].0),
            "time order: {got}"
        );
        if want.len() > 30 {
            longer_than_the_bound += 1;
        }
        assert!(kept.len() <= 30);
        assert_eq!(
            kept_sorted.last(),
            want.last(),
            "the newest event is kept: {id}"
        );
        held += kept.len();

        let stateless = |extra: &Value| {
            let mut body = json!({
                "aids": got["aids"], "timestamps": got["timestamps"], "event_types": got["event_types"],
            });
            for key in ["aids", "timestamps", "event_types"] {
                let list = body[key].as_array_mut().unwrap();
                list.extend(extra[key].as_array().unwrap().iter().cloned());
            }
            body
        };
        let own = if i % 3 == 0 {
            json!({"aids": [224, 277], "timestamps": [1661724140, 1700000000], "event_types": [0, 1]})
        } else {
            json!({"aids": [], "timestamps": [], "event_types": []})
        };
        for kind in ["clicks", "carts", "orders"] {
            let mut by_id = own.clone();
            by_id["session"] = json!(id);
            by_id["type"] = json!(kind);
            let (status, answer) = server.predict(&by_id);
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["session"], id);
            assert_eq!(answer["session_events"], kept.len());
            let mut plain = stateless(&own);
            plain["type"] = json!(kind);
            let (status, expected) = server.predict(&plain);
            assert_eq!(status, 200, "{expected}");
            assert_eq!(
                answer["recommendation"], expected["recommendation"],
                "{id} {kind}"
            );
            assert_eq!(answer["scores"], expected["scores"], "{id} {kind}");
        }
    }
    assert!(
        longer_than_the_bound > 0,
        "some session exceeds the bound of 30"
    );
    let (_, metrics) = server.request("GET", "/metrics", b"");
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("otto_live_sessions"), 60);
    assert_eq!(value("otto_live_events"), held as u64);
    assert_eq!(value("otto_live_events_ingested_total"), stored);
    assert_eq!(
        value("otto_live_events_duplicate_total") + value("otto_live_events_older_total") + stored,
        2 * all.len() as u64
    );

    // A new visitor: popular items, with no stored events.
    let (status, answer) = server.predict(&json!({"session": "first-visit", "k": 5}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["session_events"], 0);
    assert_eq!(answer["recommendation"].as_array().unwrap().len(), 5);
}

/// One bad event refuses its whole batch with its index and stores nothing; oversized and
/// empty batches, bad session ids and unknown sessions get their codes; DELETE forgets.
#[test]
fn bad_batches_store_nothing_and_every_error_has_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &fixture_model(dir.path()),
        &[],
        &["--max-batch-events", "3"],
    );
    let good = json!({"session": "s1", "aid": 5, "ts": 1661724140, "type": 0});
    let cases = [
        (
            json!({"session": "s1", "aid": -1, "ts": 1, "type": 0}),
            422,
            "invalid_aid",
            "events[1].aid = -1",
        ),
        (
            json!({"session": "s1", "aid": 1, "ts": -3, "type": 0}),
            422,
            "invalid_timestamp",
            "events[1].ts = -3",
        ),
        (
            json!({"session": "s1", "aid": 1, "ts": 1, "type": "views"}),
            422,
            "invalid_event_type",
            "events[1].type",
        ),
        (
            json!({"session": "s1", "aid": 1, "ts": 1, "type": 3}),
            422,
            "invalid_event_type",
            "events[1].type = 3",
        ),
        (
            json!({"session": "", "aid": 1, "ts": 1, "type": 0}),
            422,
            "invalid_session_id",
            "events[1].session",
        ),
        (
            json!({"session": "x".repeat(129), "aid": 1, "ts": 1, "type": 0}),
            422,
            "invalid_session_id",
            "at most 128",
        ),
        (
            json!({"session": "a\u{7f}b", "aid": 1, "ts": 1, "type": 0}),
            422,
            "invalid_session_id",
            "printable",
        ),
        (
            json!({"session": "s1", "aid": 1, "ts": 1}),
            422,
            "invalid_field",
            "type",
        ),
    ];
    for (bad, status, code, message) in cases {
        let (got, body) = post_events(&server, &[good.clone(), bad.clone()]);
        assert_eq!(got, status, "{bad}: {body}");
        assert_eq!(body["status"], "error");
        assert_eq!(body["code"], code, "{bad}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{body}"
        );
    }
    let (status, body) = get_session(&server, "s1");
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("unknown_session")),
        "nothing stored: {body}"
    );
    let (status, body) = post_events(
        &server,
        &[good.clone(), good.clone(), good.clone(), good.clone()],
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("batch_too_large")),
        "{body}"
    );
    let (status, body) = post_events(&server, &[]);
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("empty_batch")),
        "{body}"
    );
    let (status, text) = server.request("POST", "/events", b"{\"events\": [");
    assert_eq!(status, 400, "{text}");
    let (status, text) = server.request("GET", "/sessions/a%0Ab", b"");
    assert_eq!(status, 404, "not a session id, so no session: {text}");
    assert!(
        text.contains("unknown_session") && text.contains("printable"),
        "{text}"
    );
    let (status, body) =
        server.predict(&json!({"session": "", "aids": [1], "timestamps": [1], "event_types": [0]}));
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_session_id")),
        "{body}"
    );
    let (status, _, _) = server.exchange("PUT", "/sessions/s1", &[], b"");
    assert_eq!(status, 405);

    assert_eq!(post_events(&server, std::slice::from_ref(&good)).0, 200);
    let (status, body) = get_session(&server, "s1");
    assert_eq!(status, 200);
    assert_eq!(body["aids"], json!([5]));
    let (status, text) = server.request("DELETE", "/sessions/s1", b"");
    assert_eq!(status, 204, "{text}");
    assert_eq!(get_session(&server, "s1").0, 404);
    let (status, text) = server.request("DELETE", "/sessions/s1", b"");
    assert_eq!(status, 404, "{text}");
    let (_, metrics) = server.request("GET", "/metrics", b"");
    assert!(
        metrics.contains("otto_live_sessions_deleted_total 1"),
        "{metrics}"
    );
}

/// The session cap evicts the least recently used session, the TTL expires idle ones, the
/// event bound keeps the newest; `/metrics` shows each bound and count.
#[test]
fn the_bounds_evict_expire_and_cut_and_metrics_show_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &fixture_model(dir.path()),
        &[],
        &[
            "--max-sessions",
            "3",
            "--session-ttl",
            "2",
            "--session-events",
            "2",
        ],
    );
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        let events: Vec<Value> = (0..3)
            .map(|t| json!({"session": id, "aid": 10 + t, "ts": 1661724140 + t + i, "type": 0}))
            .collect();
        assert_eq!(post_events(&server, &events).0, 200);
    }
    let (_, a) = get_session(&server, "a");
    assert_eq!(a["aids"], json!([11, 12]), "the newest two");
    assert_eq!(
        post_events(
            &server,
            &[json!({"session": "d", "aid": 1, "ts": 1661724140, "type": 0})]
        )
        .0,
        200
    );
    assert_eq!(
        get_session(&server, "b").0,
        404,
        "b was the least recently used"
    );
    assert_eq!(get_session(&server, "a").0, 200);
    let (_, metrics) = server.request("GET", "/metrics", b"");
    for line in [
        "otto_live_sessions 3",
        "otto_live_sessions_evicted_total 1",
        "otto_live_max_sessions 3",
        "otto_live_events_per_session 2",
        "otto_live_session_ttl_seconds 2",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    std::thread::sleep(std::time::Duration::from_millis(4_500));
    let (_, metrics) = server.request("GET", "/metrics", b"");
    assert!(metrics.contains("otto_live_sessions 0"), "{metrics}");
    assert!(
        metrics.contains("otto_live_sessions_expired_total 3"),
        "{metrics}"
    );
    assert_eq!(get_session(&server, "a").0, 404);
}

/// `--session-snapshot`: the sessions survive a clean stop and start; a damaged snapshot
/// stops the start with its name and is left as it was.
#[test]
fn the_snapshot_keeps_sessions_across_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture_model(dir.path());
    let snapshot = dir.path().join("sessions.bin");
    let flags = ["--session-snapshot", s(&snapshot)];
    let server = Server::start_with(&model, &[], &flags);
    let events: Vec<Value> = fixture_events(20).concat();
    for batch in events.chunks(100) {
        assert_eq!(post_events(&server, batch).0, 200);
    }
    let before: Vec<Value> = (0..20)
        .map(|i| {
            get_session(
                &server,
                fixture_events(20)[i][0]["session"].as_str().unwrap(),
            )
            .1
        })
        .collect();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(server.wait().success());
    assert!(snapshot.exists());

    let server = Server::start_with(&model, &[], &flags);
    for want in &before {
        let (status, got) = get_session(&server, want["session"].as_str().unwrap());
        assert_eq!(status, 200);
        assert_eq!(&got, want);
    }
    drop(server);

    let mut damaged = std::fs::read(&snapshot).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    std::fs::write(&snapshot, &damaged).unwrap();
    let out = otto_rec()
        .args(["serve", "--model-dir", s(&model), "--port", "0"])
        .args(flags)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sessions.bin") && stderr.contains("move it aside"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&snapshot).unwrap(), damaged, "left as it was");
}

/// A real Redis server on a free loopback port, stopped (by its process id) when dropped.
struct Redis {
    child: std::process::Child,
    port: u16,
}

impl Redis {
    fn start(port: u16) -> Redis {
        let mut redis = Redis {
            child: std::process::Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect(
                    "redis-server runs (scripts/deps.sh installs it: apt-get install redis-server)",
                ),
            port,
        };
        for _ in 0..100 {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                use std::io::{Read, Write};
                let mut answer = [0u8; 7];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read_exact(&mut answer).is_ok()
                    && &answer == b"+PONG\r\n"
                {
                    return redis;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = redis.child.kill();
        let _ = redis.child.wait();
        panic!("redis-server did not answer on port {port}");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two replicas on one Redis: events sent through one are read and recommended for by the
/// other, equal to the stateless answer; a replica killed with SIGKILL loses nothing Redis
/// acknowledged. With Redis down, ingestion answers 503, recommendations by session answer
/// from the body's events marked `session_store: unavailable`, `/readyz` says so; when Redis
/// is back the replicas recover without a restart.
#[test]
fn replicas_share_sessions_through_redis_and_survive_its_outage() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture_model(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let redis = Redis::start(port);
    let flags = ["--session-store", &redis.url(), "--session-prefix", "test:"];
    let one = Server::start_with(&model, &[], &flags);
    let two = Server::start_with(&model, &[], &flags);
    let sessions = fixture_events(30);
    let all: Vec<Value> = shuffled(sessions.concat(), 11);
    for batch in all.chunks(50) {
        let (status, body) = post_events(&one, batch);
        assert_eq!(status, 200, "{body}");
        let (status, body) = post_events(&two, batch);
        assert_eq!((status, &body["stored"]), (200, &json!(0)), "{body}");
    }
    let ids: Vec<String> = sessions
        .iter()
        .map(|e| e[0]["session"].as_str().unwrap().to_string())
        .collect();
    let mut held = Vec::new();
    for id in &ids {
        let (status, through_one) = get_session(&one, id);
        assert_eq!(status, 200);
        let (_, through_two) = get_session(&two, id);
        assert_eq!(through_one, through_two);
        let (status, by_id) = two.predict(&json!({"session": id, "type": "carts"}));
        assert_eq!(status, 200, "{by_id}");
        let (_, plain) = one.predict(
            &json!({"aids": through_one["aids"], "timestamps": through_one["timestamps"],
            "event_types": through_one["event_types"], "type": "carts"}),
        );
        assert_eq!(by_id["recommendation"], plain["recommendation"], "{id}");
        assert_eq!(by_id["scores"], plain["scores"], "{id}");
        held.push(through_one);
    }
    // SIGKILL of a replica loses nothing: the other reads every session.
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &one.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    drop(one);
    for (id, want) in ids.iter().zip(&held) {
        assert_eq!(&get_session(&two, id).1, want);
    }

    drop(redis);
    let event = json!({"session": "during-outage", "aid": 224, "ts": 1661724140, "type": 0});
    let (status, body) = post_events(&two, std::slice::from_ref(&event));
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("store_unavailable")),
        "{body}"
    );
    let own =
        json!({"aids": [224, 277], "timestamps": [1661724140, 1661724150], "event_types": [0, 0]});
    let mut by_id = own.clone();
    by_id["session"] = json!(ids[0]);
    let (status, answer) = two.predict(&by_id);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["session_store"], "unavailable");
    let (_, plain) = two.predict(&own);
    assert_eq!(answer["recommendation"], plain["recommendation"]);
    let (status, ready) = two.request("GET", "/readyz", b"");
    assert_eq!(status, 200, "{ready}");
    let ready: Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(
        ready["session_store"],
        json!({"kind": "redis", "available": false})
    );
    assert_eq!(get_session(&two, &ids[0]).0, 503);

    let _redis = Redis::start(port);
    let mut recovered = false;
    for _ in 0..50 {
        if post_events(&two, std::slice::from_ref(&event)).0 == 200 {
            recovered = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        recovered,
        "ingestion recovers within 5 s of Redis coming back"
    );
    let (_, got) = get_session(&two, "during-outage");
    assert_eq!(got["aids"], json!([224]));
}
