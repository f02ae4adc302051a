//! The ranker's production scorer alone, in ns per tree and candidate row, on rows in cache
//! (800-row batches copied just before scoring, as `predict` scores a 16-session batch):
//! fast enough to run many alternating rounds of two builds, which a shared, noisy machine
//! needs to tell a few percent apart. `bench_scoring` measures the other evaluators and the
//! request stages.
//!
//!     cargo run --release --example bench_kernel -- MODEL_DIR SESSIONS.jsonl ROWS [PASSES]
//!
//! The feature rows of the first 2,000 sessions' candidates are written to ROWS (raw little-endian f32)
//! the first time, and read from it after: building them loads the whole bundle, which at
//! Kaggle scale takes longer than the measurement. Prints, per model, the fastest and the
//! median of PASSES (default 5) passes over every row.

mod common;

use std::path::{Path, PathBuf};

use otto_rec::bundle::{Bundle, candidate_config, ranker_file};
use otto_rec::data::read_events;
use otto_rec::domain::EventType;
use otto_rec::features::NUM_FEATURES;
use otto_rec::progress::Silent;
use otto_rec::ranker::TreeModel;

type Failure = Box<dyn std::error::Error>;

/// The benchmark's feature rows of `sessions` over the bundle in `dir`.
fn build_rows(dir: &Path, sessions: &Path) -> Result<Vec<f32>, Failure> {
    let log = read_events(sessions, &Silent)?;
    let bundle = Bundle::open(dir)?;
    let config = candidate_config(bundle.manifest());
    let recommender = bundle.into_recommender();
    Ok(common::feature_rows(recommender.index(), &config, &log))
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
    print!("{} rows:", rows.len() / NUM_FEATURES);
    for kind in EventType::ALL {
        let model = TreeModel::parse(&std::fs::read_to_string(dir.join(ranker_file(kind)))?)?;
        let mut times: Vec<f64> = (0..passes)
            .map(|_| common::cached_ns_per_tree_row(&model, &rows))
            .collect();
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
