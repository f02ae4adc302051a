//! Real logs as they come: any mix of event types through train → predict → serve, sparse
//! ids near 2^32, and the public logs' own formats through `convert`.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{Server, run, run_ok, s};

/// The fixture world's train.jsonl with each event's type and aid passed through `edit`
/// (`None` drops the event), written to `path`.
fn edited_world(path: &Path, edit: impl Fn(&str, u64) -> Option<(&'static str, u64)>) {
    let text = std::fs::read_to_string("fixtures/world/train.jsonl").unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut session: Value = serde_json::from_str(line).unwrap();
        let events: Vec<Value> = session["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| {
                let (kind, aid) = edit(e["type"].as_str().unwrap(), e["aid"].as_u64().unwrap())?;
                Some(json!({"aid": aid, "ts": e["ts"], "type": kind}))
            })
            .collect();
        if events.is_empty() {
            continue;
        }
        session["events"] = Value::Array(events);
        out.push_str(&session.to_string());
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

fn type_name(kind: &str) -> &'static str {
    match kind {
        "clicks" => "clicks",
        "carts" => "carts",
        _ => "orders",
    }
}

/// Trains on `input`, predicts its sessions and serves the bundle; checks that exactly
/// `ranked` objectives have rankers everywhere the bundle is described.
fn train_predict_serve(dir: &Path, input: &Path, ranked: &[&str], flags: &[&str]) -> Server {
    let model = dir.join("model");
    let mut args = vec![
        "train",
        "--input",
        s(input),
        "--model-dir",
        s(&model),
        "--max-trees",
        "20",
        // One labelled period and one objective: these tests are about event types.
        "--folds",
        "1",
        "--objective",
        "binary",
    ];
    args.extend_from_slice(flags);
    let out = run(&args);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{report}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("manifest.json")).unwrap())
            .unwrap();
    for kind in ["clicks", "carts", "orders"] {
        let has = ranked.contains(&kind);
        let file = format!("ranker_{kind}.txt");
        assert_eq!(manifest["files"].get(&file).is_some(), has, "{file}");
        assert_eq!(model.join(&file).exists(), has, "{file}");
        assert_eq!(
            !manifest["training"]["targets"][kind].is_null(),
            has,
            "{kind}"
        );
        // One line names each objective left to the heuristic, with its count.
        let line = report
            .lines()
            .find(|l| l.starts_with(&format!("{kind}: ")) && l.contains("labelled examples"));
        assert_eq!(line.is_some(), !has, "{kind} in\n{report}");
    }

    let output = dir.join("predictions.csv");
    let out = run(&[
        "predict",
        "--input",
        "fixtures/world/test.jsonl",
        "--model-dir",
        s(&model),
        "--output",
        s(&output),
    ]);
    assert!(out.status.success());
    let summary = String::from_utf8_lossy(&out.stderr);
    let expected = match ranked.len() {
        3 => "ranker: clicks, carts, orders".to_string(),
        _ => format!("ranker: {}; heuristic:", ranked.join(", ")),
    };
    assert!(summary.contains(&expected), "{summary}");

    let server = Server::start(&model);
    let (status, health) = server.request("GET", "/health", b"");
    assert_eq!(status, 200);
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["model"]["ranked_objectives"], json!(ranked));
    for kind in ["clicks", "carts", "orders"] {
        let (status, body) = server.predict(&json!({
            "aids": [398, 217, 398], "timestamps": [1659305420, 1659305448, 1659305535],
            "event_types": [0, 0, 0], "type": kind
        }));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["recommendation"].as_array().unwrap().len(), 20);
    }
    server
}

#[test]
fn a_clicks_only_log_trains_a_clicks_ranker_and_leaves_carts_and_orders_to_the_heuristic() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("clicks.jsonl");
    edited_world(&input, |_, aid| Some(("clicks", aid)));
    train_predict_serve(dir.path(), &input, &["clicks"], &[]);
}

#[test]
fn a_log_without_orders_trains_clicks_and_carts_rankers() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("no-orders.jsonl");
    edited_world(&input, |kind, aid| {
        (kind != "orders").then(|| (type_name(kind), aid))
    });
    // Three cuts of each training session: more labelled examples, the same outcome.
    let server = train_predict_serve(dir.path(), &input, &["clicks", "carts"], &["--cuts", "3"]);
    drop(server);
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("model/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["training"]["cuts"], 3);
}

#[test]
fn the_full_mix_trains_three_rankers_reported_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    train_predict_serve(
        dir.path(),
        Path::new("fixtures/world/train.jsonl"),
        &["clicks", "carts", "orders"],
        &[],
    );
}

#[test]
fn a_log_without_any_labels_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("unrelated.jsonl");
    // Pairs (2k, 2k+1) clicked together over 30 days; in the last week each session clicks
    // 2k, then an item never seen with it nor popular: no candidate is ever the label.
    let day = 86_400_000u64;
    let start = 1_659_305_420_000u64;
    let mut text = String::new();
    let mut session = |id: u64, ts: u64, aids: [u64; 2]| {
        let events: Vec<Value> = aids
            .iter()
            .enumerate()
            .map(|(i, a)| json!({"aid": a, "ts": ts + i as u64 * 60_000, "type": "clicks"}))
            .collect();
        text.push_str(&json!({"session": id, "events": events}).to_string());
        text.push('\n');
    };
    for k in 0..300u64 {
        session(k, start + k * (20 * day / 300), [2 * k, 2 * k + 1]);
    }
    for k in 10..200u64 {
        let other = 2 * ((k + 7) % 300) + 1;
        session(1000 + k, start + 24 * day + k * 60_000 * 5, [2 * k, other]);
    }
    std::fs::write(&input, text).unwrap();
    let model = dir.path().join("model");
    let out = run(&[
        "train",
        "--input",
        s(&input),
        "--model-dir",
        s(&model),
        "--folds",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no clicks, carts or orders to learn from"),
        "{stderr}"
    );
}

/// Runs the binary and returns its output and peak resident memory in KiB.
// The child is reaped by wait4, which also reports its peak memory: std's wait cannot.
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&str]) -> (std::process::Output, u64) {
    let child = crate::common::otto_rec()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.unwrap();
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut stderr, &mut text).unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is a child of this process that nothing else waits for.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    let output = std::process::Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(status),
        stdout: Vec::new(),
        stderr: text,
    };
    (output, usage.ru_maxrss as u64)
}

/// The serving process's resident memory, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn ids_near_two_to_the_32_build_train_predict_and_serve_in_a_few_mib() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sparse.jsonl");
    let top = u32::MAX as u64;
    let sparse = |aid: u64| top - 7 * aid;
    edited_world(&input, |kind, aid| Some((type_name(kind), sparse(aid))));
    let model = dir.path().join("model");

    let (out, build_kib) = run_measured(&[
        "build-index",
        "--input",
        s(&input),
        "--model-dir",
        s(&model),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Memory follows the data: arrays sized by the largest id would take 16 GiB and more.
    assert!(
        build_kib < 256 * 1024,
        "build-index peaked at {build_kib} KiB"
    );
    let table = std::fs::read_to_string(model.join("manifest.json")).unwrap();
    assert!(table.contains("covisit_clicks.parquet"));

    let (out, train_kib) = run_measured(&[
        "train",
        "--input",
        s(&input),
        "--model-dir",
        s(&model),
        "--max-trees",
        "20",
        // One cut per session: the bound is about ids, not about how many rows are labelled.
        "--cuts",
        "1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(train_kib < 512 * 1024, "train peaked at {train_kib} KiB");

    let test = dir.path().join("test.jsonl");
    let original = std::fs::read_to_string("fixtures/world/test.jsonl").unwrap();
    let mut text = String::new();
    for line in original.lines() {
        let mut session: Value = serde_json::from_str(line).unwrap();
        for e in session["events"].as_array_mut().unwrap() {
            e["aid"] = json!(sparse(e["aid"].as_u64().unwrap()));
        }
        text.push_str(&session.to_string());
        text.push('\n');
    }
    std::fs::write(&test, text).unwrap();
    let lists = dir.path().join("lists.jsonl");
    run_ok(&[
        "predict",
        "--input",
        s(&test),
        "--model-dir",
        s(&model),
        "--output",
        s(&lists),
    ]);
    // Every answer is in the original ids.
    let known: std::collections::HashSet<u64> = (0..2000).map(sparse).collect();
    for line in std::fs::read_to_string(&lists).unwrap().lines().take(200) {
        let v: Value = serde_json::from_str(line).unwrap();
        for kind in ["clicks", "carts", "orders"] {
            for aid in v[kind]["recommendation"].as_array().unwrap() {
                assert!(known.contains(&aid.as_u64().unwrap()), "{aid} in {v}");
            }
        }
    }

    let server = Server::start(&model);
    let (status, health) = server.request("GET", "/health", b"");
    assert_eq!(status, 200);
    let health: Value = serde_json::from_str(&health).unwrap();
    assert!(
        health["model"]["items"].as_u64().unwrap() < 5_000,
        "{health}"
    );
    // A known session answers in original ids; unknown ids anywhere in u32 still get
    // recommendations, and an unknown aid of the session may come back as itself.
    let (status, body) = server.predict(&json!({
        "aids": [sparse(398), sparse(217), sparse(398)],
        "timestamps": [1659305420u32, 1659305448, 1659305535], "event_types": [0, 0, 1],
        "type": "orders"
    }));
    assert_eq!(status, 200, "{body}");
    let items: Vec<u64> = body["recommendation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(items.len(), 20);
    assert!(items.iter().all(|a| known.contains(a)), "{items:?}");
    for unknown in [0u64, 5, 1 << 31, top - 1] {
        let (status, body) = server.predict(&json!({
            "aids": [unknown, sparse(398)], "timestamps": [1659305420u32, 1659305448],
            "event_types": [0, 0], "type": "clicks"
        }));
        assert_eq!(status, 200, "{body}");
        let items = body["recommendation"].as_array().unwrap();
        assert_eq!(items.len(), 20, "{body}");
        assert!(
            items.iter().all(|a| {
                let a = a.as_u64().unwrap();
                known.contains(&a) || a == unknown
            }),
            "{body}"
        );
    }
    let serve_kib = rss_kib(server.pid());
    assert!(serve_kib < 256 * 1024, "serve holds {serve_kib} KiB");
}

/// Converts a fixture log and reads the sessions back from JSONL.
fn convert(args: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.jsonl");
    let mut all = vec!["convert", "--output", s(&output)];
    all.extend_from_slice(args);
    run_ok(&all);
    std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn events(sessions: &[Value]) -> Vec<&Value> {
    sessions
        .iter()
        .flat_map(|s| s["events"].as_array().unwrap())
        .collect()
}

fn count(sessions: &[Value], kind: &str) -> usize {
    events(sessions)
        .iter()
        .filter(|e| e["type"] == kind)
        .count()
}

fn lines_of(path: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .count()
}

#[test]
fn yoochoose_clicks_and_buys_become_clicks_and_orders_with_iso_times() {
    let sessions = convert(&[
        "--from",
        "yoochoose",
        "--input",
        "fixtures/logs/yoochoose-clicks.dat",
        "--buys",
        "fixtures/logs/yoochoose-buys.dat",
    ]);
    assert_eq!(sessions.len(), 8);
    assert_eq!(
        count(&sessions, "clicks"),
        lines_of("fixtures/logs/yoochoose-clicks.dat")
    );
    assert_eq!(
        count(&sessions, "orders"),
        lines_of("fixtures/logs/yoochoose-buys.dat")
    );
    // The first line: 1,2014-04-01T16:13:00.428Z,214549772,0 (16,161 days after the epoch).
    let first = &sessions[0]["events"][0];
    assert_eq!(sessions[0]["session"], 1);
    assert_eq!(first["aid"], 214549772);
    let ms = 16_161u64 * 86_400_000 + (16 * 3600 + 13 * 60) * 1000 + 428;
    assert_eq!(first["ts"], ms);
    // Session 3's buy comes after its clicks.
    let three = sessions.iter().find(|s| s["session"] == 3).unwrap();
    assert_eq!(
        three["events"].as_array().unwrap().last().unwrap()["type"],
        "orders"
    );
}

#[test]
fn diginetica_views_and_purchases_take_eventdate_plus_timeframe() {
    let sessions = convert(&[
        "--from",
        "diginetica",
        "--input",
        "fixtures/logs/diginetica-views.csv",
        "--purchases",
        "fixtures/logs/diginetica-purchases.csv",
    ]);
    assert_eq!(sessions.len(), 8);
    assert_eq!(
        count(&sessions, "clicks"),
        lines_of("fixtures/logs/diginetica-views.csv") - 1
    );
    assert_eq!(count(&sessions, "orders"), 2);
    // 1;NA;90;369535;2016-05-02: 16,923 days after the epoch plus 369,535 ms.
    let first = &sessions[0]["events"][0];
    assert_eq!(
        (first["aid"].as_u64(), first["ts"].as_u64()),
        (Some(90), Some(16_923 * 86_400_000 + 369_535))
    );
    // A header spelt with underscores reads the same.
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("views.csv");
    let text = std::fs::read_to_string("fixtures/logs/diginetica-views.csv").unwrap();
    std::fs::write(
        &renamed,
        text.replacen("sessionId;userId;itemId", "session_id;user_id;item_id", 1),
    )
    .unwrap();
    let again = convert(&["--from", "diginetica", "--input", s(&renamed)]);
    assert_eq!(
        events(&again).len(),
        lines_of("fixtures/logs/diginetica-views.csv") - 1
    );
}

#[test]
fn retailrocket_visitors_are_split_into_sessions_at_the_gap() {
    let args = [
        "--from",
        "retailrocket",
        "--input",
        "fixtures/logs/retailrocket-events.csv",
    ];
    let sessions = convert(&args);
    let all = events(&sessions);
    assert_eq!(
        all.len(),
        lines_of("fixtures/logs/retailrocket-events.csv") - 1
    );
    for kind in ["clicks", "carts", "orders"] {
        assert!(count(&sessions, kind) > 0, "{kind}");
    }
    // Within a session no pause exceeds 30 minutes; sessions are in time order.
    for session in &sessions {
        let ts: Vec<u64> = session["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["ts"].as_u64().unwrap())
            .collect();
        assert!(
            ts.windows(2)
                .all(|w| w[0] <= w[1] && w[1] - w[0] <= 30 * 60_000),
            "{session}"
        );
    }
    let three = sessions.len();
    assert!(three > 3, "the gaps split visitors into more sessions");
    // A gap longer than any pause keeps each visitor's events in one session.
    let mut long = args.to_vec();
    long.extend_from_slice(&["--session-gap", "100000"]);
    assert_eq!(convert(&long).len(), 3);
}

#[test]
fn any_delimited_log_converts_through_named_columns_and_a_type_map() {
    let sessions = convert(&[
        "--from",
        "csv",
        "--input",
        "fixtures/logs/shop-events.tsv",
        "--delimiter",
        "tab",
        "--columns",
        "session=user_session,aid=product,ts=event_time,type=event",
        "--type-map",
        "view=clicks,cart=carts,purchase=orders,remove_from_cart=skip",
    ]);
    let text = std::fs::read_to_string("fixtures/logs/shop-events.tsv").unwrap();
    let kept = text
        .lines()
        .skip(1)
        .filter(|l| !l.ends_with("remove_from_cart"))
        .count();
    assert_eq!(events(&sessions).len(), kept);
    // Seconds in, milliseconds in OTTO JSONL.
    assert_eq!(sessions[0]["events"][0]["ts"], 1_600_003_600_000u64);
}

#[test]
fn a_malformed_line_is_reported_with_its_number_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("clicks.dat");
    let mut text = std::fs::read_to_string("fixtures/logs/yoochoose-clicks.dat").unwrap();
    text.push_str("9,2014-04-07T10:51:09.277Z,4294967296,0\n");
    std::fs::write(&input, &text).unwrap();
    let output = dir.path().join("out.parquet");
    let convert = |extra: &[&str]| {
        let mut args = vec!["convert", "--from", "yoochoose", "--input", s(&input)];
        args.extend_from_slice(&["--output", s(&output)]);
        args.extend_from_slice(extra);
        run(&args)
    };
    let out = convert(&[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = lines_of("fixtures/logs/yoochoose-clicks.dat") + 1;
    assert!(
        stderr.contains(&format!("line {line}"))
            && stderr.contains("below 2^32")
            && stderr.contains("clicks.dat"),
        "{stderr}"
    );
    assert!(!output.exists());

    std::fs::write(&input, "1,yesterday,214536502,0\n").unwrap();
    let out = convert(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1: timestamp \"yesterday\""));
    // A flag of another format is refused before anything is read.
    let out = convert(&["--purchases", "x.csv"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--purchases"));
    assert!(!output.exists());
}

#[test]
fn an_srgnn_split_converts_to_train_sessions_and_labelled_test_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = (
        dir.path().join("all_train_seq.txt"),
        dir.path().join("test.txt"),
    );
    let made = std::process::Command::new("python3")
        .args([
            "-c",
            "import pickle, sys\n\
             pickle.dump([[1, 2, 3], [2, 3], [4000000000, 2]], open(sys.argv[1], 'wb'))\n\
             pickle.dump(([[1, 2], [2]], [3, 3]), open(sys.argv[2], 'wb'))",
            s(&train),
            s(&test),
        ])
        .status()
        .unwrap();
    assert!(made.success());
    let out = dir.path().join("out");
    let status = std::process::Command::new("python3")
        .args([
            "scripts/srgnn_convert.py",
            "--train",
            s(&train),
            "--test",
            s(&test),
            "--out",
            s(&out),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let read = |name: &str| -> Vec<Value> {
        std::fs::read_to_string(out.join(name))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let sessions = read("train.jsonl");
    assert_eq!(sessions.len(), 3);
    let aids: Vec<u64> = events(&sessions[2..])
        .iter()
        .map(|e| e["aid"].as_u64().unwrap())
        .collect();
    assert_eq!(aids, vec![4_000_000_000, 2]);
    assert!(events(&sessions).iter().all(|e| e["type"] == "clicks"));
    // Sessions keep the file's order in time, each one's events a minute apart.
    let first: Vec<u64> = sessions
        .iter()
        .map(|s| s["events"][0]["ts"].as_u64().unwrap())
        .collect();
    assert!(first.windows(2).all(|w| w[0] < w[1]), "{first:?}");
    assert_eq!(
        sessions[0]["events"][1]["ts"].as_u64().unwrap() - first[0],
        60_000
    );
    // Each prefix is a test session after the train sessions, labelled with its next item.
    let prefixes = read("test.jsonl");
    let labels = read("test_labels.jsonl");
    assert_eq!(prefixes.len(), 2);
    assert_eq!(prefixes[0]["session"], 3);
    assert!(prefixes[0]["events"][0]["ts"].as_u64().unwrap() > first[2]);
    assert_eq!(labels[1], json!({"session": 4, "labels": {"clicks": 3}}));
    // The benchmark's metrics come from evaluate: a submission ranking 3 second for
    // session 3 and not at all for session 4 has HR@20 0.5 and MRR@20 0.25.
    let submission = dir.path().join("sub.csv");
    std::fs::write(
        &submission,
        "session_type,labels\n3_clicks,9 3\n4_clicks,9\n",
    )
    .unwrap();
    let json = run_ok(&[
        "evaluate",
        "--labels",
        s(&out.join("test_labels.jsonl")),
        "--submission",
        s(&submission),
        "--json",
    ]);
    let r: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (r["clicks"].as_f64(), r["clicks_mrr"].as_f64()),
        (Some(0.5), Some(0.25))
    );
}
