//! What each candidate source finds on a labelled test file, without training anything:
//! per source its recall alone and the recall the candidate set loses without it, the
//! candidates per session and the time of one session's candidates; and the session-kNN
//! source on its own as a recommender (its best 20 items by kNN score), scored as the
//! papers score session-based models: HR@20 and MRR@20 of the next click.
//!
//!     cargo run --release --example source_recall -- TRAIN TEST LABELS
//!
//! TRAIN indexes (default `build-index` parameters), TEST holds the truncated sessions and
//! LABELS their truth (as `scripts/public-benchmark.sh` writes them into its WORK
//! directory). The candidate settings are the defaults; KNN=n,query,sample,neighbours,idf
//! overrides the session-kNN ones, ITEMS_PER_SESSION=n the items kept per past session.
//! The item vectors and the next-item model are built as `build-index` builds them by
//! default. NEXT=k,k,… also measures the next-item model as a source: its best k items
//! over all items (an exact scan), the recall they add to the candidates, and the time of
//! the scan.

use std::collections::HashMap;
use std::time::Instant;

use otto_rec::candidates::{CandidateConfig, SessionContext, Source, candidates};
use otto_rec::data::labels::read_labels;
use otto_rec::data::read_events;
use otto_rec::index::{self, IndexParams};
use otto_rec::progress::Silent;
use rayon::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, train, test, labels] = args.as_slice() else {
        eprintln!("usage: source_recall TRAIN TEST LABELS");
        std::process::exit(1);
    };
    let mut log = read_events(std::path::Path::new(train), &Silent)?;
    let started = Instant::now();
    let mut params = IndexParams::auto(log.len());
    if let (Some(p), Ok(items)) = (params.sessions.as_mut(), std::env::var("ITEMS_PER_SESSION")) {
        p.items_per_session = items.parse()?;
    }
    let index = index::build(&mut log, &params, &Silent);
    println!("index built in {:.1} s", started.elapsed().as_secs_f64());
    drop(log);
    let test = read_events(std::path::Path::new(test), &Silent)?;
    let truth: HashMap<u32, u32> = read_labels(std::path::Path::new(labels))?
        .into_iter()
        .filter_map(|l| Some((l.session, l.clicks?)))
        .collect();
    let mut config = CandidateConfig::default();
    if let Ok(knn) = std::env::var("KNN") {
        let v: Vec<f64> = knn
            .split(',')
            .map(|x| x.parse())
            .collect::<Result<_, _>>()?;
        config.knn = v[0] as usize;
        config.knn_query = v[1] as usize;
        config.knn_sample = v[2] as usize;
        config.knn_neighbours = v[3] as usize;
        config.knn_idf = v[4] as f32;
    }
    // Positions, as the pipeline sees them.
    let test = index.ids.localize_log(&test).unwrap_or(test);
    let truth: HashMap<u32, u32> = truth
        .into_iter()
        .filter_map(|(s, a)| Some((s, index.ids.position(a)?)))
        .collect();
    let sessions: Vec<usize> = (0..test.len())
        .filter(|&s| truth.contains_key(&test.session(s).id))
        .collect();
    let n = sessions.len();
    println!("{n} test sessions with a click label known to the index");

    const S: usize = otto_rec::candidates::NUM_SOURCES;
    struct Found {
        alone: [usize; S],
        without: [usize; S],
        union: usize,
        candidates: usize,
        knn_hits: usize,
        knn_rr: f64,
        nanos: u128,
        next_alone: Vec<usize>,
        next_adds: Vec<usize>,
        next_nanos: u128,
    }
    let next_ks: Vec<usize> = std::env::var("NEXT").map_or(Ok(vec![]), |v| {
        v.split(',').map(|k| k.parse()).collect::<Result<_, _>>()
    })?;
    let next_k = next_ks.iter().copied().max().unwrap_or(0);
    let model = index.next_item.as_ref().filter(|_| next_k > 0);
    let found = sessions
        .par_iter()
        .map(|&s| {
            let session = test.session(s);
            let target = truth[&session.id];
            let t0 = Instant::now();
            let ctx = SessionContext::new(&index, session, &config);
            let cands = candidates(&ctx, &config);
            let nanos = t0.elapsed().as_nanos();
            let mut f = Found {
                alone: [0; S],
                without: [0; S],
                union: 0,
                candidates: cands.len(),
                knn_hits: 0,
                knn_rr: 0.0,
                nanos,
                next_alone: vec![0; next_ks.len()],
                next_adds: vec![0; next_ks.len()],
                next_nanos: 0,
            };
            if let Some(model) = model {
                let t0 = Instant::now();
                let best = model
                    .session_vector(session.aids)
                    .map(|h| {
                        let mut scored: Vec<(f32, u32)> = (0..model.aid_bound() as u32)
                            .filter_map(|a| Some((model.score(&h, a)?, a)))
                            .collect();
                        let k = next_k.min(scored.len());
                        if k > 0 {
                            scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
                        }
                        scored.truncate(k);
                        scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
                        scored
                    })
                    .unwrap_or_default();
                f.next_nanos = t0.elapsed().as_nanos();
                if let Some(rank) = best.iter().position(|&(_, a)| a == target) {
                    let new = !cands.iter().any(|c| c.aid == target) as usize;
                    for (i, &k) in next_ks.iter().enumerate() {
                        f.next_alone[i] = (rank < k) as usize;
                        f.next_adds[i] = (rank < k) as usize * new;
                    }
                }
            }
            if let Some(c) = cands.iter().find(|c| c.aid == target) {
                f.union = 1;
                for src in 0..S {
                    f.alone[src] = (c.ranks[src] != u16::MAX) as usize;
                    f.without[src] = (c
                        .ranks
                        .iter()
                        .enumerate()
                        .any(|(i, &r)| i != src && r != u16::MAX))
                        as usize;
                }
            }
            let knn = ctx.sources.knn.agg.best(20, |a| a.score);
            if let Some(rank) = knn.iter().position(|&a| a == target) {
                f.knn_hits = 1;
                f.knn_rr = 1.0 / (rank + 1) as f64;
            }
            f
        })
        .reduce(
            || Found {
                alone: [0; S],
                without: [0; S],
                union: 0,
                candidates: 0,
                knn_hits: 0,
                knn_rr: 0.0,
                nanos: 0,
                next_alone: vec![0; next_ks.len()],
                next_adds: vec![0; next_ks.len()],
                next_nanos: 0,
            },
            |mut a, b| {
                for i in 0..S {
                    a.alone[i] += b.alone[i];
                    a.without[i] += b.without[i];
                }
                a.union += b.union;
                a.candidates += b.candidates;
                a.knn_hits += b.knn_hits;
                a.knn_rr += b.knn_rr;
                a.nanos += b.nanos;
                for i in 0..a.next_alone.len() {
                    a.next_alone[i] += b.next_alone[i];
                    a.next_adds[i] += b.next_adds[i];
                }
                a.next_nanos += b.next_nanos;
                a
            },
        );
    let pct = |x: usize| 100.0 * x as f64 / n as f64;
    println!(
        "all sources: recall {:.2} % with {:.1} candidates per session, {:.1} µs per session",
        pct(found.union),
        found.candidates as f64 / n as f64,
        found.nanos as f64 / n as f64 / 1e3
    );
    println!("{:<26} {:>8} {:>10}", "source", "alone %", "adds %");
    for src in Source::all() {
        let i = src.index();
        println!(
            "{:<26} {:>8.2} {:>10.2}",
            src.name(),
            pct(found.alone[i]),
            pct(found.union - found.without[i])
        );
    }
    println!(
        "session kNN alone (best 20 by score): HR@20 {:.2}  MRR@20 {:.2}",
        pct(found.knn_hits),
        100.0 * found.knn_rr / n as f64
    );
    if model.is_some() {
        println!(
            "next-item model, an exact scan of all items: {:.1} µs per session",
            found.next_nanos as f64 / n as f64 / 1e3
        );
        for (i, k) in next_ks.iter().enumerate() {
            println!(
                "  best {k:>4}: alone {:6.2} %, adds {:5.2} %",
                pct(found.next_alone[i]),
                pct(found.next_adds[i])
            );
        }
    }
    Ok(())
}
