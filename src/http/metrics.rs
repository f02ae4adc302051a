//! Prometheus metrics of the server: requests by route and status, a latency histogram per
//! route and the number of sessions scored, in the text exposition format.
//!
//! Every request records itself, so recording takes no lock and allocates nothing for the
//! routes the server has and the statuses it answers with: each worker adds to atomic
//! counters. Anything else (a route pattern or status not listed here) is counted in a map
//! behind a mutex. Rendering, which is rare, merges the two.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
pub const BUCKETS: [f64; 12] = [
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// The route labels counted without a lock: the server's routes, and the labels of
/// requests no route matched or the in-flight limit refused.
const ROUTES: [&str; 9] = [
    "/predict",
    "/health",
    "/metrics",
    "/livez",
    "/readyz",
    "/admin/reload",
    "/openapi.json",
    "unmatched",
    "overloaded",
];

/// The statuses counted without a lock: those the server's handlers answer with.
const STATUSES: [u16; 9] = [200, 400, 401, 404, 405, 413, 422, 500, 503];

/// A latency histogram; `buckets[i]` counts the requests in bucket i alone (the exposition
/// format's cumulative counts are summed when rendered), the last slot those above every
/// bound.
#[derive(Clone, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len() + 1],
    nanos: u64,
}

impl Histogram {
    fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// A latency in whole nanoseconds, saturating.
fn nanos(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}

/// One route's counters, updated without a lock.
#[derive(Default)]
struct RouteCounters {
    by_status: [AtomicU64; STATUSES.len()],
    buckets: [AtomicU64; BUCKETS.len() + 1],
    nanos: AtomicU64,
}

/// Counters shared by all workers.
#[derive(Default)]
pub struct Metrics {
    routes: [RouteCounters; ROUTES.len()],
    other_requests: Mutex<BTreeMap<(String, u16), u64>>,
    other_latency: Mutex<BTreeMap<String, Histogram>>,
    sessions_scored: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
}

/// The bucket of a latency: the first whose bound is at or above it.
fn bucket(seconds: f64) -> usize {
    BUCKETS
        .iter()
        .position(|&bound| seconds <= bound)
        .unwrap_or(BUCKETS.len())
}

impl Metrics {
    /// Records one finished request.
    pub fn record(&self, route: &str, status: u16, elapsed: Duration) {
        let b = bucket(elapsed.as_secs_f64());
        let known = ROUTES.iter().position(|&r| r == route);
        match known {
            Some(r) => {
                let counters = &self.routes[r];
                counters.buckets[b].fetch_add(1, Ordering::Relaxed);
                counters.nanos.fetch_add(nanos(elapsed), Ordering::Relaxed);
            }
            None => {
                let mut latency = self.other_latency.lock().expect("metrics lock");
                let h = latency.entry(route.to_string()).or_default();
                h.buckets[b] += 1;
                h.nanos = h.nanos.saturating_add(nanos(elapsed));
            }
        }
        match (known, STATUSES.iter().position(|&s| s == status)) {
            (Some(r), Some(s)) => {
                self.routes[r].by_status[s].fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                *self
                    .other_requests
                    .lock()
                    .expect("metrics lock")
                    .entry((route.to_string(), status))
                    .or_default() += 1;
            }
        }
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

    /// The requests and latencies recorded so far, by route (and status), sorted.
    fn snapshot(&self) -> (BTreeMap<(String, u16), u64>, BTreeMap<String, Histogram>) {
        let mut requests = self.other_requests.lock().expect("metrics lock").clone();
        let mut latency = self.other_latency.lock().expect("metrics lock").clone();
        for (route, counters) in ROUTES.iter().zip(&self.routes) {
            for (status, n) in STATUSES.iter().zip(&counters.by_status) {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    *requests.entry((route.to_string(), *status)).or_default() += n;
                }
            }
            let h = Histogram {
                buckets: counters
                    .buckets
                    .each_ref()
                    .map(|b| b.load(Ordering::Relaxed)),
                nanos: counters.nanos.load(Ordering::Relaxed),
            };
            if h.count() > 0 {
                latency.insert(route.to_string(), h);
            }
        }
        (requests, latency)
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let (requests, latency) = self.snapshot();
        let mut out = String::new();
        out.push_str("# HELP otto_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE otto_requests_total counter\n");
        for ((route, status), n) in &requests {
            let _ = writeln!(
                out,
                "otto_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP otto_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE otto_request_duration_seconds histogram\n");
        for (route, h) in &latency {
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(&h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "otto_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "otto_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count()
            );
            let _ = writeln!(
                out,
                "otto_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.nanos as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "otto_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_routes_and_statuses_are_all_counted_and_rendered() {
        let metrics = Metrics::default();
        let us = Duration::from_micros;
        metrics.record("/predict", 200, us(300));
        metrics.record("/predict", 200, us(1));
        metrics.record("/predict", 400, us(3000));
        metrics.record("/predict", 418, us(2_000_000));
        metrics.record("/docs/{tail}", 200, us(100));
        let text = metrics.render();
        for line in [
            "otto_requests_total{route=\"/predict\",status=\"200\"} 2",
            "otto_requests_total{route=\"/predict\",status=\"400\"} 1",
            "otto_requests_total{route=\"/predict\",status=\"418\"} 1",
            "otto_requests_total{route=\"/docs/{tail}\",status=\"200\"} 1",
            // Buckets are cumulative; 2 s is above every bound.
            "otto_request_duration_seconds_bucket{route=\"/predict\",le=\"0.0002\"} 1",
            "otto_request_duration_seconds_bucket{route=\"/predict\",le=\"0.0005\"} 2",
            "otto_request_duration_seconds_bucket{route=\"/predict\",le=\"0.002\"} 2",
            "otto_request_duration_seconds_bucket{route=\"/predict\",le=\"0.005\"} 3",
            "otto_request_duration_seconds_bucket{route=\"/predict\",le=\"1\"} 3",
            "otto_request_duration_seconds_bucket{route=\"/predict\",le=\"+Inf\"} 4",
            "otto_request_duration_seconds_sum{route=\"/predict\"} 2.003301",
            "otto_request_duration_seconds_count{route=\"/predict\"} 4",
            "otto_request_duration_seconds_bucket{route=\"/docs/{tail}\",le=\"0.0002\"} 1",
            "otto_request_duration_seconds_count{route=\"/docs/{tail}\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line} in\n{text}");
        }
        assert!(!text.contains("route=\"/health\""), "{text}");
    }
}
