//! `predict`: scores every session of a file with the bundle's recommender (the same
//! pipeline `serve` uses) and writes a Kaggle submission or lists with scores.

use std::io::Write;

use rayon::prelude::*;

use crate::bundle::Bundle;
use crate::cli::PredictArgs;
use crate::commands::progress::Bars;
use crate::data::atomic::write_atomic;
use crate::data::{read_all_events, submission};
use crate::domain::{EventType, Recommendation};
use crate::error::{Error, Result};
use crate::pipeline::{MAX_K, Strategy};
use crate::progress::{Progress, Unit};

/// Sessions scored per parallel block before writing, to bound memory.
const BLOCK: usize = 65_536;
/// Sessions whose candidate rows are scored together (full evaluator blocks).
const BATCH: usize = 16;

#[derive(Clone, Copy, PartialEq)]
enum Output {
    Submission,
    Lists,
}

pub fn run(args: PredictArgs) -> Result<()> {
    let output = match args.output.extension().and_then(|e| e.to_str()) {
        Some("csv") => Output::Submission,
        Some("jsonl") => Output::Lists,
        _ => {
            return Err(Error::argument(
                "--output",
                format!(
                    "{}: expected a .csv (Kaggle submission) or .jsonl (lists with scores) file",
                    args.output.display()
                ),
            ));
        }
    };
    if args.k == 0 || args.k > MAX_K {
        return Err(Error::argument(
            "--k",
            format!("must be between 1 and {MAX_K}"),
        ));
    }
    let recommender = Bundle::open(&args.model_dir)?.into_recommender();
    let bars = Bars::default();
    let log = read_all_events(std::slice::from_ref(&args.input), &bars)?;
    let strategy = if args.heuristic {
        Strategy::Heuristic
    } else {
        recommender.default_strategy()
    };
    let started = std::time::Instant::now();
    bars.stage("scoring sessions", log.len() as u64, Unit::Items);
    let path = &args.output;
    write_atomic(path, |out| {
        let io = |e| Error::io(path, e);
        if output == Output::Submission {
            submission::write_header(out).map_err(io)?;
        }
        for start in (0..log.len()).step_by(BLOCK) {
            let end = (start + BLOCK).min(log.len());
            // Each batch is scored and written out in memory on the worker threads, so the
            // output thread only copies bytes, in session order.
            let batches: Vec<Vec<u8>> = (start..end)
                .into_par_iter()
                .step_by(BATCH)
                .map(|first| {
                    let last = (first + BATCH).min(end);
                    let sessions: Vec<_> = (first..last).map(|i| log.session(i)).collect();
                    let lists = recommender.recommend_all_batch(&sessions, args.k, strategy)?;
                    let mut bytes = Vec::new();
                    for (i, per_type) in (first..last).zip(&lists) {
                        let id = log.session_ids[i];
                        match output {
                            Output::Submission => submission::write_session(
                                &mut bytes,
                                id,
                                per_type.each_ref().map(|r| r.aids.as_slice()),
                            )
                            .map_err(io)?,
                            Output::Lists => write_lists(&mut bytes, id, per_type),
                        }
                    }
                    Ok(bytes)
                })
                .collect::<Result<_>>()?;
            for bytes in &batches {
                out.write_all(bytes).map_err(io)?;
            }
            bars.advance((end - start) as u64);
        }
        Ok(())
    })?;
    bars.finish();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {}: {} sessions in {:.2} s ({:.0} sessions/s; {})",
        path.display(),
        log.len(),
        seconds,
        log.len() as f64 / seconds.max(1e-9),
        recommender.describe(strategy)
    );
    Ok(())
}

#[derive(serde::Serialize)]
struct List<'a> {
    recommendation: &'a [u32],
    scores: &'a [f32],
}

#[derive(serde::Serialize)]
struct Lists<'a> {
    session: u32,
    clicks: List<'a>,
    carts: List<'a>,
    orders: List<'a>,
}

/// `{"session":42,"clicks":{"recommendation":[..],"scores":[..]},"carts":{..},"orders":{..}}`,
/// scores written as the same f32 values `serve` returns.
fn write_lists(line: &mut Vec<u8>, session: u32, lists: &[Recommendation; 3]) {
    let list = |kind: EventType| {
        let r = &lists[kind.index()];
        List {
            recommendation: &r.aids,
            scores: &r.scores,
        }
    };
    let value = Lists {
        session,
        clicks: list(EventType::Click),
        carts: list(EventType::Cart),
        orders: list(EventType::Order),
    };
    serde_json::to_writer(&mut *line, &value).expect("serialising to memory");
    line.push(b'\n');
}
