//! Prometheus metrics of the server: requests by route and status, a latency histogram per
//! route and the number of sessions scored, in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the latency histogram buckets.
pub const BUCKETS: [f64; 12] = [
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counters shared by all workers.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    sessions_scored: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
}

impl Metrics {
    /// Records one finished request.
    pub fn record(&self, route: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((route.to_string(), status))
            .or_default() += 1;
        let mut latency = self.latency.lock().expect("metrics lock");
        let h = latency.entry(route.to_string()).or_default();
        for (i, &bound) in BUCKETS.iter().enumerate() {
            if seconds <= bound {
                h.buckets[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// Counts a scored session.
    pub fn session_scored(&self) {
        self.sessions_scored.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a model reload, successful or not.
    pub fn reload(&self, ok: bool) {
        let counter = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP otto_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE otto_requests_total counter\n");
        for ((route, status), n) in self.requests.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "otto_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP otto_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE otto_request_duration_seconds histogram\n");
        for (route, h) in self.latency.lock().expect("metrics lock").iter() {
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "otto_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}",
                    h.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "otto_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "otto_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "otto_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP otto_sessions_scored_total Sessions scored by POST /predict.\n");
        out.push_str("# TYPE otto_sessions_scored_total counter\n");
        let _ = writeln!(
            out,
            "otto_sessions_scored_total {}",
            self.sessions_scored.load(Ordering::Relaxed)
        );
        out.push_str("# HELP otto_model_reloads_total Model reloads by result.\n");
        out.push_str("# TYPE otto_model_reloads_total counter\n");
        for (result, counter) in [("ok", &self.reloads_ok), ("error", &self.reloads_failed)] {
            let _ = writeln!(
                out,
                "otto_model_reloads_total{{result=\"{result}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        out
    }
}
