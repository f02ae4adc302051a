//! Candidate recall as a function of candidates per session, overall and per source: how
//! many of the labelled sessions' truth items the candidate set holds (Recall@all, truth
//! capped at 20 as in the metric), without training anything.
//!
//!     cargo run --release --example candidate_recall -- TRAIN_FILE [SESSIONS]
//!
//! Splits TRAIN_FILE by the official rule (last 7 days), indexes the earlier part, and for
//! each setting prints the average candidates per session and the recall per objective.
//! SESSIONS caps the labelled sessions measured (default 20,000).

use otto_rec::candidates::{CandidateConfig, NeighbourRanking, SessionContext, Source, candidates};
use otto_rec::data::read_events;
use otto_rec::domain::EventType;
use otto_rec::index::{self, IndexParams};
use otto_rec::metric::RecallCounter;
use otto_rec::progress::Silent;
use otto_rec::split::{SplitConfig, split};
use rayon::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: candidate_recall TRAIN_FILE [SESSIONS]");
        std::process::exit(1);
    };
    let limit: usize = args.get(2).map_or(Ok(20_000), |s| s.parse())?;
    let log = read_events(std::path::Path::new(path), &Silent)?;
    let mut split = split(&log, SplitConfig::default());
    let params = IndexParams {
        embedding: Some(otto_rec::index::embedding::EmbeddingParams::default()),
        ..IndexParams::default()
    };
    let index = index::build(&mut split.train, &params, &Silent);
    let n = split.test.len().min(limit);
    println!("{n} labelled sessions");
    println!(
        "{:<44} {:>7} {:>8} {:>8} {:>8} {:>8}",
        "candidates", "per s.", "clicks", "carts", "orders", "total"
    );
    let measure = |label: &str, config: &CandidateConfig, only: Option<Source>| {
        let (counter, count) = (0..n)
            .into_par_iter()
            .map(|s| {
                let ctx = SessionContext::new(&index, split.test.session(s), config);
                let cands = candidates(&ctx, config);
                let kept: Vec<u32> = cands
                    .iter()
                    .filter(|c| only.is_none_or(|src| c.ranks[src.index()] != u16::MAX))
                    .map(|c| c.aid)
                    .collect();
                let mut counter = RecallCounter::default();
                for kind in EventType::ALL {
                    let truth = split.labels[s].truth(kind);
                    let found = truth.iter().filter(|a| kept.contains(a)).count();
                    counter.add_counts(kind, found, truth.len());
                }
                (counter, kept.len())
            })
            .reduce(
                || (RecallCounter::default(), 0),
                |(mut a, x), (b, y)| {
                    a.merge(&b);
                    (a, x + y)
                },
            );
        let r = counter.recall();
        println!(
            "{label:<44} {:>7.1} {:>8.4} {:>8.4} {:>8.4} {:>8.4}",
            count as f64 / n as f64,
            r.clicks,
            r.carts,
            r.orders,
            r.total
        );
    };
    let base = CandidateConfig::default();
    let setting = std::env::var("SETTINGS").unwrap_or_else(|_| "counts,sources,similar".into());
    if setting.contains("counts") {
        for per_table in [10, 20, 30, 40, 60, 80] {
            let config = CandidateConfig { per_table, ..base };
            measure(&format!("{per_table} per table"), &config, None);
        }
    }
    if setting.contains("sources") {
        for source in Source::all() {
            measure(&format!("only {}", source.name()), &base, Some(source));
        }
    }
    if setting.contains("similar") {
        for similar_history in [0, 1, 2, 3, 5] {
            for similar in [10, 20, 40] {
                let config = CandidateConfig {
                    similar_history,
                    similar,
                    ..base
                };
                measure(
                    &format!("similar items of {similar_history} newest aids, best {similar}"),
                    &config,
                    None,
                );
            }
        }
    }
    if setting.contains("neighbours") {
        for neighbour_ranking in [NeighbourRanking::Sum, NeighbourRanking::Recency] {
            for history_for_neighbours in [2, 3, 5, 10, 20] {
                let config = CandidateConfig {
                    history_for_neighbours,
                    neighbour_ranking,
                    ..base
                };
                measure(
                    &format!("{neighbour_ranking:?}, {history_for_neighbours} newest aids"),
                    &config,
                    None,
                );
            }
        }
    }
    Ok(())
}
