//! The candidate and feature stages alone, in µs per session: the session context, the
//! merged candidates and their feature rows, as `predict` builds them (statistics and
//! vectors prefetched before the rows are written), without scoring. Prints the median and
//! the fastest of 7 passes over the first N sessions; run two builds in turn to compare them.
//!
//!     cargo run --release --example bench_candidates -- MODEL_DIR SESSIONS.jsonl N

use std::path::PathBuf;
use std::time::Instant;

use otto_rec::bundle::{Bundle, candidate_config};
use otto_rec::candidates::{SessionContext, candidates};
use otto_rec::data::read_events;
use otto_rec::features::{SessionFeatures, write_rows};
use otto_rec::progress::Silent;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: bench_candidates MODEL_DIR SESSIONS.jsonl N");
        std::process::exit(1);
    }
    let bundle = Bundle::open(&PathBuf::from(&args[1]))?;
    let config = candidate_config(bundle.manifest());
    let recommender = bundle.into_recommender();
    let index = recommender.index();
    let log = read_events(&PathBuf::from(&args[2]), &Silent)?;
    let n: usize = args[3].parse()?;
    let n = n.min(log.len()).max(1);
    let mut rows = Vec::new();
    let mut passes = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        for session in log.iter().take(n) {
            rows.clear();
            let ctx = SessionContext::new(index, session, &config);
            let cands = candidates(&ctx, &config);
            let features = SessionFeatures::new(&ctx);
            write_rows(index, &ctx, &features, &cands, &mut rows);
        }
        passes.push(started.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    passes.sort_by(f64::total_cmp);
    println!(
        "{n} sessions: {:.2} µs per session (median of 7 passes), fastest {:.2}",
        passes[3], passes[0]
    );
    Ok(())
}
