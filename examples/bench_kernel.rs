//! The ranker's production scorer alone, in ns per tree and candidate row, on rows in cache
//! (800-row batches copied just before scoring, as `predict` scores a 16-session batch):
//! fast enough to run many alternating rounds of two builds, which a shared, noisy machine
//! needs to tell a few percent apart. `bench_scoring` measures the other evaluators and the
//! request stages.
//!
//!     cargo run --release --example bench_kernel -- MODEL_DIR SESSIONS.jsonl ROWS [PASSES]
//!
//! The feature rows of the first 2,000 sessions are written to ROWS (raw little-endian f32)
//! the first time, and read from it after: building them loads the whole bundle, which at
//! Kaggle scale takes longer than the measurement. Prints, per model, the fastest and the
//! median of PASSES (default 5) passes over every row.

use std::path::{Path, PathBuf};
use std::time::Instant;

use otto_rec::bundle::{Bundle, candidate_config, ranker_file};
use otto_rec::candidates::{SessionContext, candidates};
use otto_rec::data::read_events;
use otto_rec::domain::EventType;
use otto_rec::features::{NUM_FEATURES, SessionFeatures, write_row};
use otto_rec::progress::Silent;
use otto_rec::ranker::TreeModel;

type Failure = Box<dyn std::error::Error>;

/// The feature rows of the first 2,000 sessions of `sessions`, as `serve` builds them.
fn build_rows(dir: &Path, sessions: &Path) -> Result<Vec<f32>, Failure> {
    let log = read_events(sessions, &Silent)?;
    let bundle = Bundle::open(dir)?;
    let config = candidate_config(bundle.manifest());
    let recommender = bundle.into_recommender();
    let index = recommender.index();
    let mut rows = Vec::new();
    for session in log.iter().take(2_000) {
        let ctx = SessionContext::new(index, session, &config);
        let features = SessionFeatures::new(&ctx);
        for c in candidates(&ctx, index, &config) {
            write_row(index, &ctx, &features, &c, &mut rows);
        }
    }
    Ok(rows)
}

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: bench_kernel MODEL_DIR SESSIONS.jsonl ROWS [PASSES]");
        std::process::exit(1);
    }
    let dir = PathBuf::from(&args[1]);
    let cache = PathBuf::from(&args[3]);
    let passes: usize = match args.get(4) {
        Some(p) => p.parse().map_err(|_| format!("PASSES: not a count: {p}"))?,
        None => 5,
    };
    if passes == 0 {
        return Err("PASSES must be at least 1".into());
    }
    let rows: Vec<f32> = if cache.exists() {
        let bytes = std::fs::read(&cache)?;
        if bytes.len() % (4 * NUM_FEATURES) != 0 {
            return Err(format!(
                "{}: not rows of {NUM_FEATURES} f32 (delete it to rebuild)",
                cache.display()
            )
            .into());
        }
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else {
        let rows = build_rows(&dir, Path::new(&args[2]))?;
        let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
        let partial = cache.with_extension("partial");
        std::fs::write(&partial, bytes)?;
        std::fs::rename(&partial, &cache)?;
        rows
    };
    let n_rows = rows.len() / NUM_FEATURES;
    let batch = 800 * NUM_FEATURES;
    let mut buffer = vec![0f32; batch];
    let mut out = Vec::with_capacity(800);
    print!("{n_rows} rows:");
    for kind in EventType::ALL {
        let model = TreeModel::parse(&std::fs::read_to_string(dir.join(ranker_file(kind)))?)?;
        let per_tree_row = 1e9 / (n_rows * model.num_trees()) as f64;
        let mut times = Vec::with_capacity(passes);
        for _ in 0..passes {
            let mut seconds = 0.0;
            for chunk in rows.chunks(batch) {
                let buffer = &mut buffer[..chunk.len()];
                buffer.copy_from_slice(chunk);
                let t = Instant::now();
                model.score_rows(buffer, &mut out);
                seconds += t.elapsed().as_secs_f64();
            }
            times.push(seconds * per_tree_row);
        }
        times.sort_by(f64::total_cmp);
        print!(
            "  {} min {:.2} median {:.2} ns",
            kind.name(),
            times[0],
            times[passes / 2]
        );
    }
    println!();
    Ok(())
}
