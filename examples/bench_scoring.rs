//! Cost of the ranker on the request path: ns per tree and candidate row for QuickScorer's
//! kernels (narrow: 32-bit leaf masks; wide: 64-bit), the node walk and LightGBM's C API
//! (batch), all over every row at once (tens of MB, streamed from memory); the fastest
//! kernel again on rows in cache, as `serve` and `predict` score them (a batch of 800 rows
//! written just before, like a 16-session batch of `predict`); µs per row for LightGBM one
//! row at a time,
//! the three rankers on the same rows in cache, each alone and laid out together (as
//! `predict` scores every objective), and the time of each stage of a request. Medians of
//! 5 passes, measured side by side.
//!
//!     cargo run --release --example bench_scoring -- MODEL_DIR SESSIONS.jsonl
//!
//! MODEL_DIR must hold rankers (`otto-rec train`); SESSIONS are scored as requests would be.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use otto_rec::bundle::{Bundle, ranker_file};
use otto_rec::data::read_events;
use otto_rec::domain::EventType;
use otto_rec::features::NUM_FEATURES;
use otto_rec::progress::Silent;
use otto_rec::ranker::{Kernel, Rankers, TreeModel};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bench_scoring MODEL_DIR SESSIONS.jsonl");
        std::process::exit(1);
    }
    let dir = PathBuf::from(&args[1]);
    let log = read_events(&PathBuf::from(&args[2]), &Silent)?;
    let bundle = Bundle::open(&dir)?;
    let config = otto_rec::bundle::candidate_config(bundle.manifest());
    let recommender = bundle.into_recommender();
    let index = recommender.index();

    let rows = common::feature_rows(index, &config, &log);
    let n_rows = rows.len() / NUM_FEATURES;
    println!(
        "{n_rows} candidate rows from {} sessions",
        log.len().min(common::SESSIONS)
    );
    println!(
        "{:<8} {:>6} {:>12} {:>12} {:>12} {:>12} {:>12} {:>14} {:>10} {:>10}",
        "model",
        "trees",
        "narrow ns",
        "cached ns",
        "wide ns",
        "walk ns",
        "lgbm ns",
        "lgbm 1-row µs",
        "max |Δ|",
        "quick=walk"
    );
    for kind in EventType::ALL {
        let text = std::fs::read_to_string(dir.join(ranker_file(kind)))?;
        let model = TreeModel::parse(&text)?;
        let per_tree_row = 1e9 / (n_rows * model.num_trees()) as f64;
        let time = |f: &mut dyn FnMut()| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * per_tree_row
        };
        let kernels = model.kernels();
        let mut walked = Vec::with_capacity(n_rows);
        let mut outputs = vec![Vec::with_capacity(n_rows); kernels.len()];
        let mut kernel_times = vec![Vec::new(); kernels.len()];
        let mut walk_times = Vec::new();
        let cached = median(
            (0..5)
                .map(|_| common::cached_ns_per_tree_row(&model, &rows))
                .collect(),
        );
        for _ in 0..5 {
            for (k, &kernel) in kernels.iter().enumerate() {
                if kernel != Kernel::Portable {
                    let out = &mut outputs[k];
                    kernel_times[k].push(time(&mut || model.score_rows_kernel(kernel, &rows, out)));
                }
            }
            walk_times.push(time(&mut || model.score_rows_walk(&rows, &mut walked)));
        }
        let ns = |kernel: Kernel| {
            kernels.iter().position(|&k| k == kernel).map_or_else(
                || "-".to_string(),
                |k| format!("{:.2}", median(kernel_times[k].clone())),
            )
        };
        let same = kernels.iter().zip(&outputs).all(|(&k, out)| {
            k == Kernel::Portable
                || out
                    .iter()
                    .zip(&walked)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
        });
        let mut quick = Vec::new();
        model.score_rows(&rows, &mut quick);
        let booster = lightgbm3::Booster::from_string(&text)?;
        let mut batch_times = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..5 {
            batch_times.push(time(&mut || {
                expected = booster
                    .predict_with_params(&rows, NUM_FEATURES as i32, true, "num_threads=1")
                    .expect("LightGBM predicts");
            }));
        }
        let single_rows = n_rows.min(20_000);
        let t = Instant::now();
        for row in rows.chunks_exact(NUM_FEATURES).take(single_rows) {
            booster.predict_with_params(row, NUM_FEATURES as i32, true, "num_threads=1")?;
        }
        let single = t.elapsed().as_secs_f64() * 1e6 / single_rows as f64;
        let max_diff = quick
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        println!(
            "{:<8} {:>6} {:>12} {:>12.2} {:>12} {:>12.2} {:>12.2} {:>14.2} {:>10.1e} {:>10}",
            kind.name(),
            model.num_trees(),
            ns(Kernel::Narrow),
            cached,
            ns(Kernel::Wide),
            median(walk_times),
            median(batch_times),
            single,
            max_diff,
            if model.uses_quickscorer() {
                if same { "bits" } else { "DIFFER" }
            } else {
                "(walk)"
            }
        );
    }

    // The three rankers on the same rows in cache: one after the other, as one request per
    // objective scores them, and in one joint layout, as `predict` does.
    let models: Vec<TreeModel> = EventType::ALL
        .into_iter()
        .map(|kind| {
            Ok(TreeModel::parse(&std::fs::read_to_string(
                dir.join(ranker_file(kind)),
            )?)?)
        })
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    let [clicks, carts, orders] = <[TreeModel; 3]>::try_from(models).expect("three models");
    let rankers = Rankers::new([Some(clicks), Some(carts), Some(orders)]);
    let models: Vec<&TreeModel> = EventType::ALL
        .into_iter()
        .filter_map(|kind| rankers.model(kind))
        .collect();
    let batch = 800 * NUM_FEATURES;
    let mut buffer = vec![0f32; batch];
    let (mut alone_times, mut joint_times) = (Vec::new(), Vec::new());
    let mut outs: [Vec<f64>; 3] = Default::default();
    let mut out = Vec::new();
    for _ in 0..5 {
        let (mut alone, mut joint) = (0.0, 0.0);
        for chunk in rows.chunks(batch) {
            let buffer = &mut buffer[..chunk.len()];
            buffer.copy_from_slice(chunk);
            let t = Instant::now();
            for model in &models {
                model.score_rows(buffer, &mut out);
            }
            alone += t.elapsed().as_secs_f64();
            buffer.copy_from_slice(chunk);
            let t = Instant::now();
            rankers.score_groups(buffer, &[chunk.len() / NUM_FEATURES], None, &mut outs);
            joint += t.elapsed().as_secs_f64();
        }
        alone_times.push(alone * 1e9 / n_rows as f64);
        joint_times.push(joint * 1e9 / n_rows as f64);
    }
    let (alone, joint) = (median(alone_times), median(joint_times));
    println!(
        "three rankers on rows in cache, ns per row: each alone {alone:.1}, together {joint:.1} ({:.2}×)",
        joint / alone
    );

    // Stages of a request for sessions cut to their last 30 events: per pass, the mean
    // over the sessions; the median of 9 passes.
    let sessions: Vec<_> = log.iter().filter(|s| s.len() >= 30).take(2_000).collect();
    if !sessions.is_empty() {
        let (mut cand, mut feat, mut score, mut total) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..9 {
            let (mut c, mut f, mut s) = (0.0, 0.0, 0.0);
            let t = Instant::now();
            for &session in &sessions {
                let (_, timings) =
                    recommender.recommend_timed(session.tail(30), EventType::Order, 20);
                c += timings.candidates.as_secs_f64();
                f += timings.features.as_secs_f64();
                s += timings.scoring.as_secs_f64();
            }
            let per = 1e6 / sessions.len() as f64;
            total.push(t.elapsed().as_secs_f64() * per);
            cand.push(c * per);
            feat.push(f * per);
            score.push(s * per);
        }
        println!(
            "30-event request, mean µs over {} sessions (median of 9 passes): candidates {:.1}, features {:.1}, scoring {:.1}, total {:.1}",
            sessions.len(),
            median(cand),
            median(feat),
            median(score),
            median(total)
        );
    }
    Ok(())
}
