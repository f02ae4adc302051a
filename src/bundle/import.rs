//! Assembles a bundle from an index built elsewhere: the output of the Spark job
//! `scripts/spark/covisit.py`, or of any job that writes the same files. Nothing is taken
//! on trust: the parameters are checked as the command line checks its flags, every table
//! against the invariants of a table otto-rec builds, every aid against the item
//! statistics, and the popular items against those the statistics give.
//!
//! The directory holds `index.json` (`{"parameters": <IndexParams>, "input":
//! <InputSummary>}`), the tables as `covisit_<kind>.parquet`, `item_stats.parquet` and,
//! optionally, `popular.parquet`; each Parquet file may be a directory of part files.

use std::path::Path;

use serde::Deserialize;

use super::files::{self, POPULAR};
use super::{Built, InputSummary, Manifest, OldRankers, Target, table_file};
use crate::domain::EventType;
use crate::error::{BundleProblem, Error, Result};
use crate::index::{CovisitTable, Index, IndexParams, NUM_TABLES, Popular, TableKind};

/// The description of the tables, written last by the job.
pub const INDEX_JSON: &str = "index.json";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobOutput {
    parameters: IndexParams,
    input: InputSummary,
}

/// Imports the index in `tables` as the bundle in `dir`, replacing the bundle there (if
/// any) in one atomic swap; its rankers are kept as `rankers` says, as for a build.
pub fn import(dir: &Path, tables: &Path, rankers: OldRankers) -> Result<Built> {
    let problem = |problem| Error::Tables {
        dir: tables.to_path_buf(),
        problem,
    };
    // Errors of the shared readers name the directory as a model directory: relabel them.
    let relabel = |e: Error| match e {
        Error::Bundle { problem: p, .. } => problem(p),
        other => other,
    };
    let path = tables.join(INDEX_JSON);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(problem(BundleProblem::FileMissing(format!(
                "{INDEX_JSON} (written last by the job: did it finish?)"
            ))));
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    let job: JobOutput = serde_json::from_str(&text)
        .map_err(|e| problem(BundleProblem::BadIndexJson(e.to_string())))?;
    let params = job.parameters;
    params
        .validate()
        .map_err(|e| problem(BundleProblem::BadIndexJson(e)))?;
    if params.embedding.is_some() {
        return Err(problem(BundleProblem::BadIndexJson(
            "embedding parameters: item vectors are built by `otto-rec build-index --embeddings`, not imported".into(),
        )));
    }
    if job.input.ts_min > job.input.ts_max || job.input.events == 0 {
        return Err(problem(BundleProblem::BadIndexJson(
            "input: no events, or ts_min after ts_max".into(),
        )));
    }

    let target = Target::prepare(dir, &params, rankers)?;
    let stats = files::load_stats(tables).map_err(relabel)?;
    let mut covisit: [CovisitTable; NUM_TABLES] = Default::default();
    for kind in TableKind::ALL {
        let Some(spec) = params.spec(kind) else {
            continue;
        };
        let name = table_file(kind);
        let table = files::load_table(tables, &name, spec.top_k).map_err(relabel)?;
        let extent = table.aid_extent();
        if extent > stats.aid_bound() {
            return Err(problem(BundleProblem::UnknownAid {
                name,
                aid: extent as u32 - 1,
                bound: stats.aid_bound(),
            }));
        }
        covisit[kind as usize] = table;
    }
    let popular = Popular::from_stats(&stats, params.popular);
    if tables.join(POPULAR).exists() {
        let theirs = files::load_popular(tables).map_err(relabel)?;
        compare_popular(&theirs, &popular)
            .map_err(|e| problem(BundleProblem::PopularMismatch(e)))?;
    }
    let index = Index {
        tables: covisit,
        stats,
        popular,
        embeddings: None,
    };
    let mut input = job.input;
    input
        .files
        .insert(0, format!("imported from {}", tables.display()));
    target.install(index, Manifest::new(params, input))
}

/// The first difference between the popular items of a file and those of the statistics.
fn compare_popular(file: &Popular, computed: &Popular) -> std::result::Result<(), String> {
    for kind in EventType::ALL {
        let (a, b) = (file.of(kind), computed.of(kind));
        if let Some(r) = (0..a.len().max(b.len())).find(|&r| a.get(r) != b.get(r)) {
            let show = |v: Option<&u32>| v.map_or_else(|| "nothing".into(), |x| format!("aid {x}"));
            return Err(format!(
                "{} rank {r}: {} in the file, {} from the statistics",
                kind.name(),
                show(a.get(r)),
                show(b.get(r))
            ));
        }
    }
    Ok(())
}
