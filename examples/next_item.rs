//! The next-item model alone as a recommender: trained on TRAIN, each test session's 20
//! best items by the model's score, scored as the papers score session-based models
//! (HR@20 and MRR@20 of the next click), overall and on the targets new to the session.
//!
//!     cargo run --release --example next_item -- TRAIN TEST LABELS
//!
//! DIM, NEGATIVES, EPOCHS, LR and DRAWS (the sampled softmax's draws; 0) override the model's
//! parameters; PRIOR (default 1) weighs the log of each item's count^0.75 added to its score
//! (negative sampling learns the score less that log; the ranker has the counts as features
//! of their own).

use std::collections::HashMap;
use std::time::Instant;

use otto_rec::data::labels::read_labels;
use otto_rec::data::read_events;
use otto_rec::index::ItemIds;
use otto_rec::index::embedding::next::{self, NextItemParams};
use otto_rec::progress::Silent;
use rayon::prelude::*;

mod top20;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, train, test, labels] = args.as_slice() else {
        eprintln!("usage: next_item TRAIN TEST LABELS");
        std::process::exit(1);
    };
    let mut log = read_events(std::path::Path::new(train), &Silent)?;
    let ids = ItemIds::of(&log.aids);
    ids.localize_in_place(&mut log);
    let d = NextItemParams::default();
    let params = NextItemParams {
        dim: env("DIM", d.dim),
        negatives: env("NEGATIVES", d.negatives),
        epochs: env("EPOCHS", d.epochs),
        learning_rate: env("LR", d.learning_rate),
        seed: d.seed,
        softmax_draws: env("DRAWS", d.softmax_draws),
    };
    let started = Instant::now();
    let model = next::train(&log, &params, 5, &Silent);
    println!(
        "{params:?}: trained in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let test = read_events(std::path::Path::new(test), &Silent)?;
    let truth: HashMap<u32, u32> = read_labels(std::path::Path::new(labels))?
        .into_iter()
        .filter_map(|l| Some((l.session, l.clicks?)))
        .collect();
    let items = model.aid_bound() as u32;
    // Negative sampling learns the score less the log of the noise distribution's share
    // (count^0.75): added back, it ranks like a log-probability of the next item.
    let mut counts = vec![0f64; items as usize];
    for &a in &log.aids {
        counts[a as usize] += 1.0;
    }
    let prior_weight: f32 = env("PRIOR", 1.0);
    let prior: Vec<f32> = counts
        .iter()
        .map(|&c| prior_weight * (0.75 * c.max(1.0).ln()) as f32)
        .collect();
    let results: Vec<top20::Outcome> = (0..test.len())
        .into_par_iter()
        .filter_map(|i| {
            let s = test.session(i);
            let target = *truth.get(&s.id)?;
            let aids: Vec<u32> = s.aids.iter().filter_map(|&a| ids.position(a)).collect();
            let fresh = !s.aids.contains(&target);
            let target = ids.position(target);
            let Some(h) = model.session_vector(&aids) else {
                return Some((false, 0.0, fresh));
            };
            let scored: Vec<(f32, u32)> = (0..items)
                .filter_map(|a| Some((model.score(&h, a)? + prior[a as usize], a)))
                .collect();
            Some(top20::outcome(scored, target, fresh))
        })
        .collect();
    top20::report(&results);
    Ok(())
}
