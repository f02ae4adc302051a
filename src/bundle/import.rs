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
    if params.sessions.is_some() {
        return Err(problem(BundleProblem::BadIndexJson(
            "session parameters: the session index (session-based kNN) is built from the events by `otto-rec build-index`, not imported; leave `sessions` out of index.json to import the tables alone, then retrain".into(),
        )));
    }
    if params.next_item.is_some() {
        return Err(problem(BundleProblem::BadIndexJson(
            "next-item parameters: the next-item model is built from the events by `otto-rec build-index`, not imported; leave `next_item` out of index.json".into(),
        )));
    }
    if job.input.ts_min > job.input.ts_max || job.input.events == 0 {
        return Err(problem(BundleProblem::BadIndexJson(
            "input: no events, or ts_min after ts_max".into(),
        )));
    }

    let target = Target::prepare(dir, &params, rankers)?;
    let (stats, ids) = files::load_stats(tables).map_err(relabel)?;
    let mut covisit: [CovisitTable; NUM_TABLES] = Default::default();
    for kind in TableKind::ALL {
        let Some(spec) = params.spec(kind) else {
            continue;
        };
        let name = table_file(kind);
        let table = files::load_table(tables, &name, spec.top_k, &ids).map_err(relabel)?;
        covisit[kind as usize] = table;
    }
    let popular = Popular::from_stats(&stats, params.popular);
    if tables.join(POPULAR).exists() {
        let theirs = files::load_popular(tables, &ids).map_err(relabel)?;
        compare_popular(&theirs, &popular)
            .map_err(|e| problem(BundleProblem::PopularMismatch(e)))?;
    }
    let index = Index {
        ids,
        tables: covisit,
        stats,
        popular,
        embeddings: None,
        sessions: None,
        next_item: None,
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use polars::prelude::*;

    use super::*;
    use crate::bundle::{Bundle, ITEM_STATS, build};
    use crate::domain::SessionLog;
    use crate::index::{ItemIds, ItemStats};
    use crate::progress::Silent;
    use crate::synthetic::{WorldConfig, simulate};

    fn world() -> SessionLog {
        simulate(WorldConfig {
            sessions: 1_200,
            items: 600,
            seed: 3,
        })
    }

    /// What a job writes, in memory, to be spoiled by a test before it is written.
    struct Job {
        tables: Vec<(Vec<u32>, Vec<u32>, Vec<f32>)>,
        weight_column: &'static str,
        stats: ItemStats,
        popular: Popular,
        json: serde_json::Value,
    }

    impl Job {
        fn of(index: &Index, manifest: &Manifest) -> Job {
            Job {
                tables: TableKind::ALL
                    .iter()
                    .map(|&k| index.table(k).to_rows())
                    .collect(),
                weight_column: "weight",
                stats: index.stats.clone(),
                popular: index.popular.clone(),
                json: serde_json::json!({
                    "parameters": manifest.parameters,
                    "input": manifest.input,
                }),
            }
        }

        /// Writes the job's directory, each Parquet file as two part files (a directory,
        /// as Spark writes it) split in the middle of a row group.
        fn write(&self, dir: &Path) {
            std::fs::create_dir_all(dir).unwrap();
            let parts = |name: &str, frame: DataFrame| {
                let path = dir.join(name);
                std::fs::create_dir(&path).unwrap();
                std::fs::write(path.join("_SUCCESS"), "").unwrap();
                let half = (frame.height() / 2) as i64;
                for (i, part) in [frame.slice(0, half as usize), frame.slice(half, usize::MAX)]
                    .into_iter()
                    .enumerate()
                {
                    files::write_frame(&path.join(format!("part-{i:05}.parquet")), part).unwrap();
                }
            };
            for (kind, (x, y, w)) in TableKind::ALL.iter().zip(&self.tables) {
                let to_i32 = |v: &[u32]| v.iter().map(|&a| a as i32).collect::<Vec<_>>();
                let frame = DataFrame::new(
                    x.len(),
                    vec![
                        Column::new("aid_x".into(), to_i32(x)),
                        Column::new("aid_y".into(), to_i32(y)),
                        Column::new(self.weight_column.into(), w.clone()),
                    ],
                )
                .unwrap();
                parts(&table_file(*kind), frame);
            }
            let ids = ItemIds::Identity {
                bound: self.stats.aid_bound(),
            };
            parts(ITEM_STATS, files::stats_frame(&self.stats, &ids).unwrap());
            parts(POPULAR, files::popular_frame(&self.popular, &ids).unwrap());
            std::fs::write(dir.join(INDEX_JSON), self.json.to_string()).unwrap();
        }
    }

    /// A built bundle and the job directory that describes the same index (without the
    /// session index, which a job does not build).
    fn setup(root: &Path) -> (Index, Job) {
        let built = build(
            &root.join("built"),
            &mut world(),
            &IndexParams {
                sessions: None,
                ..IndexParams::default()
            },
            &[PathBuf::from("events.parquet")],
            OldRankers::Keep,
            &Silent,
        )
        .unwrap();
        let job = Job::of(&built.index, &built.manifest);
        (built.index, job)
    }

    #[test]
    fn an_imported_index_equals_the_built_one() {
        let root = tempfile::tempdir().unwrap();
        let (index, job) = setup(root.path());
        let sessions = job.json["input"]["sessions"].as_u64().unwrap();
        job.write(&root.path().join("job"));
        let target = root.path().join("imported");
        let imported = import(&target, &root.path().join("job"), OldRankers::Keep).unwrap();
        assert_eq!(imported.index, index);
        let bundle = Bundle::open(&target).unwrap();
        assert_eq!(bundle.index(), &index);
        assert_eq!(bundle.manifest().input.sessions, sessions);
        assert!(bundle.manifest().input.files[0].starts_with("imported from"));
    }

    /// Spoils a job with `spoil`, imports it and returns the error, checking that nothing
    /// was written.
    fn refused(spoil: impl FnOnce(&mut Job, &Path)) -> Error {
        let root = tempfile::tempdir().unwrap();
        let (_, mut job) = setup(root.path());
        let dir = root.path().join("job");
        spoil(&mut job, &dir);
        // A spoiler that changes files writes the job itself first.
        if !dir.exists() {
            job.write(&dir);
        }
        let target = root.path().join("imported");
        let err = import(&target, &dir, OldRankers::Keep)
            .err()
            .expect("the import is refused");
        assert!(!target.exists(), "nothing is written: {err}");
        assert_eq!(err.exit_code(), 1, "{err}");
        assert!(err.to_string().starts_with("tables directory"), "{err}");
        err
    }

    fn clicks_row_with_neighbours(job: &Job, n: usize) -> usize {
        let x = &job.tables[0].0;
        (0..x.len() - n).find(|&i| x[i] == x[i + n - 1]).unwrap()
    }

    #[test]
    fn bad_tables_are_refused_naming_the_problem() {
        let err = refused(|job, _| job.weight_column = "w");
        assert_eq!(err.code(), "bundle_file_unreadable");
        assert!(
            err.to_string().contains("column `weight` is missing"),
            "{err}"
        );

        let err = refused(|job, _| {
            let i = clicks_row_with_neighbours(job, 2);
            job.tables[0].1[i + 1] = job.tables[0].1[i];
        });
        assert_eq!(err.code(), "invalid_table");
        assert!(err.to_string().contains("appears twice"), "{err}");

        let err = refused(|job, _| {
            let i = clicks_row_with_neighbours(job, 1);
            job.tables[0].2[i] = f32::NAN;
        });
        assert!(err.to_string().contains("not a finite number"), "{err}");

        let err = refused(|job, _| {
            // The rows have up to 20 neighbours per aid; the parameters now say 5.
            job.json["parameters"]["tables"][0]["top_k"] = 5.into();
        });
        assert!(err.to_string().contains("more than the top 5"), "{err}");

        let err = refused(|job, _| {
            let (x, y, w) = &mut job.tables[1];
            x.reverse();
            y.reverse();
            w.reverse();
        });
        assert!(err.to_string().contains("not sorted by aid_x"), "{err}");
    }

    #[test]
    fn stats_popular_items_and_index_json_are_checked() {
        let err = refused(|job, _| {
            let keep = job.stats.aid_bound() / 2;
            job.stats.items.truncate(keep);
        });
        assert_eq!(err.code(), "unknown_aid");
        assert!(err.to_string().contains("has no item statistics"), "{err}");

        let err = refused(|job, _| job.popular.by_type[2].swap(0, 1));
        assert_eq!(err.code(), "popular_mismatch");
        assert!(err.to_string().contains("orders rank 0"), "{err}");

        let err = refused(|job, _| {
            job.json["parameters"]["sessions"] =
                serde_json::to_value(crate::index::sessions::SessionKnnParams::default()).unwrap();
        });
        assert_eq!(err.code(), "bad_index_json");
        assert!(
            err.to_string()
                .contains("built from the events by `otto-rec build-index`"),
            "{err}"
        );

        let err = refused(|job, _| {
            job.json["parameters"]["next_item"] =
                serde_json::to_value(crate::index::embedding::next::NextItemParams::default())
                    .unwrap();
        });
        assert_eq!(err.code(), "bad_index_json");
        assert!(err.to_string().contains("next-item parameters"), "{err}");

        let err = refused(|job, dir| {
            job.write(dir);
            std::fs::remove_file(dir.join(INDEX_JSON)).unwrap();
        });
        assert!(err.to_string().contains("index.json"), "{err}");
        assert!(err.to_string().contains("did it finish"), "{err}");

        let err = refused(|job, _| job.json["parameters"]["tables"][2]["tail"] = 0.into());
        assert_eq!(err.code(), "bad_index_json");
        assert!(err.to_string().contains("table buy2buy: tail"), "{err}");

        let err = refused(|job, _| job.json["surprise"] = 1.into());
        assert_eq!(err.code(), "bad_index_json");
    }
}
