//! The model bundle: one directory holding everything `predict` and `serve` load — the
//! co-visitation tables, item statistics, popular items, the rankers and `manifest.json`
//! (docs/architecture.md, "The bundle"). This module is its only owner: it opens a bundle (checking versions,
//! checksums, table invariants, the rankers' objective and features), builds one, and adds
//! rankers to one.
//!
//! A bundle is never modified in place. Every change writes a complete new bundle into a
//! staging directory beside it and swaps the two with one atomic `renameat2(…,
//! RENAME_EXCHANGE)`, so at every instant the directory holds one complete bundle (the old
//! or the new) and a killed build leaves only a staging directory behind. Nothing in a
//! directory is replaced because it could not be read: a directory that is not a bundle,
//! a bundle whose manifest is unreadable, or rankers that could not be kept are errors.

mod files;
mod import;
mod manifest;
mod swap;

use std::path::{Path, PathBuf};

pub use self::files::{ITEM_STATS, NEXT_VECTORS, POPULAR, SESSIONS, SIMILAR, VECTORS, table_file};
pub use self::import::{INDEX_JSON, import};
pub use self::manifest::{
    FORMAT_VERSION, FileEntry, InputSummary, MANIFEST, Manifest, VectorShape, checksum,
};
use self::swap::Staging;
use crate::candidates::CandidateConfig;
use crate::domain::{EventType, SessionLog};
use crate::error::{BundleProblem, Error, InputProblem, Result};
use crate::index::embedding::ItemEmbeddings;
use crate::index::{self, CovisitTable, Index, IndexParams, NUM_TABLES, TableKind};
use crate::pipeline::Recommender;
use crate::progress::Progress;
use crate::ranker::{Rankers, TreeModel};
use crate::training::{TrainReport, Trained};

/// File name of an objective's ranker in a bundle.
pub fn ranker_file(objective: EventType) -> String {
    format!("ranker_{}.txt", objective.name())
}

/// A loaded and checked bundle.
#[derive(Debug)]
pub struct Bundle {
    dir: PathBuf,
    manifest: Manifest,
    version: String,
    index: Index,
    rankers: Option<Rankers>,
}

impl Bundle {
    /// Opens the bundle in `dir`: reads and checks its manifest, verifies every file's
    /// size and checksum, loads the index (checking each table's invariants) and the
    /// rankers (checking their objective and features).
    pub fn open(dir: &Path) -> Result<Bundle> {
        if !dir.is_dir() {
            return Err(Error::bundle(dir, BundleProblem::NotFound));
        }
        let (manifest, text) = Manifest::read(dir)?;
        manifest.verify_files(dir)?;
        let (stats, ids) = files::load_stats(dir)?;
        let mut tables: [CovisitTable; NUM_TABLES] = Default::default();
        for kind in TableKind::ALL {
            // A bundle built before a kind existed has no file for it: an empty table.
            if let Some(spec) = manifest.parameters.spec(kind) {
                tables[kind as usize] =
                    files::load_table(dir, &table_file(kind), spec.top_k, &ids)?;
            }
        }
        let embeddings = both(
            dir,
            manifest.parameters.embedding,
            manifest.vectors,
            "embedding",
        )?
        .map(|(params, shape)| -> Result<ItemEmbeddings> {
            Ok(ItemEmbeddings {
                vectors: files::load_vectors(dir, shape)?,
                similar: files::load_table(dir, SIMILAR, params.similar, &ids)?,
            })
        })
        .transpose()?;
        let next_item = both(
            dir,
            manifest.parameters.next_item,
            manifest.next_vectors,
            "next-item",
        )?
        .map(|(_, shape)| files::load_next(dir, shape))
        .transpose()?;
        let popular = files::load_popular(dir, &ids)?;
        let sessions = manifest
            .parameters
            .sessions
            .map(|_| files::load_sessions(dir, &stats))
            .transpose()?;
        let index = Index {
            ids,
            tables,
            stats,
            popular,
            embeddings,
            sessions,
            next_item,
        };
        let rankers = load_rankers(dir, &manifest)?;
        if rankers.is_some()
            && index.embeddings.is_none()
            && manifest.training.as_ref().is_some_and(|t| t.embeddings)
        {
            return Err(Error::bundle(dir, BundleProblem::RankersNeedEmbeddings));
        }
        if rankers.is_some()
            && index.sessions.is_none()
            && manifest.training.as_ref().is_some_and(|t| t.session_knn)
        {
            return Err(Error::bundle(dir, BundleProblem::RankersNeedSessions));
        }
        if rankers.is_some()
            && index.next_item.is_none()
            && manifest.training.as_ref().is_some_and(|t| t.next_item)
        {
            return Err(Error::bundle(dir, BundleProblem::RankersNeedNextItem));
        }
        Ok(Bundle {
            dir: dir.to_path_buf(),
            manifest,
            version: manifest::hash_hex(text.as_bytes()),
            index,
            rankers,
        })
    }

    /// The directory it was opened from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The bundle's version id: the xxh3 of its manifest, which lists every file's
    /// checksum, so two bundles share a version only when all their files are equal.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// True when the bundle has rankers.
    pub fn has_rankers(&self) -> bool {
        self.rankers.is_some()
    }

    /// The recommender over this bundle: the rankers with the candidate settings they were
    /// trained with, or the heuristic when there are none.
    pub fn into_recommender(self) -> Recommender {
        match (self.rankers, self.manifest.training) {
            (Some(rankers), Some(training)) => Recommender::with_rankers(
                self.index,
                rankers,
                training.candidates,
                training.early_exit,
            ),
            _ => Recommender::new(self.index),
        }
    }
}

/// The objectives whose rankers the manifest's training report says were fitted: all
/// three for a bundle trained before a target could be left to the heuristic.
fn fitted_objectives(training: &TrainReport) -> Vec<EventType> {
    match &training.targets {
        Some(targets) => EventType::ALL
            .into_iter()
            .filter(|&o| targets.get(o).is_some())
            .collect(),
        None => EventType::ALL.to_vec(),
    }
}

/// A part's parameters with its stored shape: `None` when the part was not built, an
/// error when the manifest has the parameters without the shape.
fn both<P, S>(
    dir: &Path,
    params: Option<P>,
    shape: Option<S>,
    part: &str,
) -> Result<Option<(P, S)>> {
    match (params, shape) {
        (Some(params), Some(shape)) => Ok(Some((params, shape))),
        (Some(_), None) => Err(Error::bundle(
            dir,
            BundleProblem::BadManifest(format!("{part} parameters without their shape")),
        )),
        (None, _) => Ok(None),
    }
}

/// The rankers the manifest lists, parsed and checked; `None` when it lists none. The
/// ranker files must be exactly those of the objectives its training report fitted.
fn load_rankers(dir: &Path, manifest: &Manifest) -> Result<Option<Rankers>> {
    let present: Vec<EventType> = EventType::ALL
        .into_iter()
        .filter(|&o| manifest.files.contains_key(&ranker_file(o)))
        .collect();
    if present.is_empty() {
        return Ok(None);
    }
    if manifest.training.as_ref().map(fitted_objectives) != Some(present.clone()) {
        return Err(Error::bundle(
            dir,
            BundleProblem::IncompleteRankers {
                present: present.len(),
            },
        ));
    }
    let mut models: [Option<TreeModel>; 3] = Default::default();
    for objective in present {
        let name = ranker_file(objective);
        let path = dir.join(&name);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let model = TreeModel::parse(&text)
            .and_then(|m| m.check_features().map(|()| m))
            .map_err(|source| Error::bundle(dir, BundleProblem::Model { name, source }))?;
        models[objective.index()] = Some(model);
    }
    Ok(Some(Rankers::new(models)))
}

/// What [`build`] did.
pub struct Built {
    pub index: Index,
    pub manifest: Manifest,
    /// True when the rankers of the bundle it replaced were kept.
    pub kept_rankers: bool,
}

/// What to do with the rankers of a bundle whose index is rebuilt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OldRankers {
    /// Keep them (they read the same features); refuse when they cannot be kept.
    Keep,
    /// Drop them.
    Drop,
}

/// Builds the index of `log` with `params` and writes it as the bundle in `dir`,
/// replacing the bundle there (if any) in one atomic swap. The old bundle's rankers are
/// kept when `rankers` says so and they are compatible; when they cannot be kept the build
/// is refused before anything is written.
pub fn build(
    dir: &Path,
    log: &mut SessionLog,
    params: &IndexParams,
    inputs: &[PathBuf],
    rankers: OldRankers,
    progress: &dyn Progress,
) -> Result<Built> {
    let Some((ts_min, ts_max)) = log.ts_range() else {
        let path = inputs.first().cloned().unwrap_or_default();
        return Err(Error::input(path, InputProblem::NoEvents));
    };
    let target = Target::prepare(dir, params, rankers)?;
    let index = index::build(log, params, progress);
    let manifest = Manifest::new(
        params.clone(),
        InputSummary {
            files: inputs.iter().map(|p| p.display().to_string()).collect(),
            sessions: log.len() as u64,
            events: log.num_events() as u64,
            ts_min,
            ts_max,
        },
    );
    target.install(index, manifest)
}

/// A bundle directory about to receive a new index: the staging directory and the old
/// bundle's rankers, when they are kept.
struct Target {
    staging: Staging,
    /// The old manifest, when its rankers are kept.
    keep: Option<Manifest>,
}

impl Target {
    /// Checks, before any work, that an index built with `params` can replace the bundle
    /// in `dir` as `rankers` asks.
    fn prepare(dir: &Path, params: &IndexParams, rankers: OldRankers) -> Result<Target> {
        let staging = Staging::new(dir)?;
        let keep = match (staging.old_manifest(), rankers) {
            (Some(m), OldRankers::Keep) if m.training.is_some() => {
                if m.training.as_ref().is_some_and(|t| t.embeddings) && params.embedding.is_none() {
                    return Err(Error::bundle(
                        dir,
                        BundleProblem::RankersIncompatible(
                            "they read item embeddings, which this build leaves out; build with embeddings, or --drop-rankers".into(),
                        ),
                    ));
                }
                if m.training.as_ref().is_some_and(|t| t.session_knn) && params.sessions.is_none() {
                    return Err(Error::bundle(
                        dir,
                        BundleProblem::RankersIncompatible(
                            "they read similar past sessions, which this index leaves out; build it with the session index, or --drop-rankers".into(),
                        ),
                    ));
                }
                if m.training.as_ref().is_some_and(|t| t.next_item) && params.next_item.is_none() {
                    return Err(Error::bundle(
                        dir,
                        BundleProblem::RankersIncompatible(
                            "they read the next-item model, which this build leaves out; build it (no --no-next-item), or --drop-rankers".into(),
                        ),
                    ));
                }
                // Opening checks every file and the rankers' features against this otto-rec.
                Bundle::open(dir).map_err(|e| {
                    Error::bundle(
                        dir,
                        BundleProblem::RankersIncompatible(format!(
                            "{e}; rebuild with --drop-rankers to replace them, or retrain"
                        )),
                    )
                })?;
                Some(m.clone())
            }
            _ => None,
        };
        Ok(Target { staging, keep })
    }

    /// Writes `index` (and the kept rankers) as the new bundle and swaps it in.
    fn install(self, index: Index, mut manifest: Manifest) -> Result<Built> {
        self.staging.write_index(&index, &mut manifest)?;
        if let Some(old) = &self.keep {
            for objective in old
                .training
                .as_ref()
                .map(fitted_objectives)
                .unwrap_or_default()
            {
                let name = ranker_file(objective);
                let entry = self.staging.keep(&name, old)?;
                manifest.files.insert(name, entry);
            }
            manifest.training = old.training.clone();
        }
        self.staging.commit(&manifest)?;
        Ok(Built {
            index,
            manifest,
            kept_rankers: self.keep.is_some(),
        })
    }
}

/// Adds trained rankers to the bundle in `dir` (replacing any it has), in one atomic swap.
/// The bundle's index files are kept as they are.
pub fn add_rankers(dir: &Path, trained: &Trained) -> Result<Manifest> {
    let staging = Staging::new(dir)?;
    let Some(old) = staging.old_manifest().cloned() else {
        return Err(Error::bundle(dir, BundleProblem::ManifestMissing));
    };
    old.verify_files(dir)?;
    let mut manifest = old.clone();
    manifest.files.clear();
    for name in old.files.keys() {
        if EventType::ALL.iter().any(|&o| &ranker_file(o) == name) {
            continue;
        }
        let entry = staging.keep(name, &old)?;
        manifest.files.insert(name.clone(), entry);
    }
    for (objective, text) in EventType::ALL.into_iter().zip(&trained.texts) {
        let Some(text) = text else { continue };
        let name = ranker_file(objective);
        let entry = staging.write(&name, text.as_bytes())?;
        manifest.files.insert(name, entry);
    }
    manifest.training = Some(trained.report.clone());
    staging.commit(&manifest)?;
    Ok(manifest)
}

/// The candidate settings of a bundle's rankers (the defaults when it has none).
pub fn candidate_config(manifest: &Manifest) -> CandidateConfig {
    manifest
        .training
        .as_ref()
        .map_or_else(CandidateConfig::default, |t| t.candidates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;
    use crate::synthetic::{WorldConfig, simulate};

    fn world() -> SessionLog {
        simulate(WorldConfig {
            sessions: 1_500,
            items: 800,
            seed: 1,
        })
    }

    fn built(dir: &Path) -> Index {
        build(
            dir,
            &mut world(),
            &IndexParams {
                embedding: Some(crate::index::embedding::EmbeddingParams::default()),
                next_item: Some(crate::index::embedding::next::NextItemParams::default()),
                ..IndexParams::default()
            },
            &[],
            OldRankers::Keep,
            &Silent,
        )
        .unwrap()
        .index
    }

    #[test]
    fn opening_what_was_built_gives_back_the_same_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model");
        let index = built(&path);
        let bundle = Bundle::open(&path).unwrap();
        assert_eq!(bundle.index(), &index);
        assert_eq!(bundle.manifest().files.len(), 6 + TableKind::ALL.len());
        assert!(bundle.index().embeddings.is_some());
        let next = bundle
            .index()
            .next_item
            .as_ref()
            .expect("a next-item model");
        assert!(next.dim() > 0);
        let sessions = bundle.index().sessions.as_ref().expect("a session index");
        assert_eq!(sessions.num_sessions(), 1_500);
        assert!(sessions.idf(sessions.items_of(0)[0]) > 0.0);
        assert_eq!(bundle.version().len(), 16);
        assert!(!bundle.has_rankers());
        assert!(index.table(TableKind::Clicks).num_pairs() > 0);
    }

    #[test]
    fn a_missing_manifest_or_a_changed_file_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model");
        built(&path);
        let clicks = path.join(table_file(TableKind::Clicks));
        let mut bytes = std::fs::read(&clicks).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&clicks, bytes).unwrap();
        let err = Bundle::open(&path).unwrap_err();
        assert_eq!(err.code(), "checksum_mismatch");
        assert!(err.to_string().contains("covisit_clicks.parquet"), "{err}");

        std::fs::remove_file(path.join(MANIFEST)).unwrap();
        let err = Bundle::open(&path).unwrap_err();
        assert_eq!(err.code(), "manifest_missing");
        assert!(
            err.to_string().contains("manifest.json is missing"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn a_session_index_file_is_checked_word_by_word() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model");
        let index = built(&path);
        let file = path.join(SESSIONS);
        let good = std::fs::read(&file).unwrap();
        let load = |bytes: &[u8]| {
            std::fs::write(&file, bytes).unwrap();
            files::load_sessions(&path, &index.stats)
        };
        assert_eq!(load(&good).unwrap(), *index.sessions.as_ref().unwrap());
        let mut magic = good.clone();
        magic[0] ^= 1;
        let mut short = good.clone();
        short.truncate(good.len() - 4);
        // The first posting list's first session becomes larger than its second.
        let mut order = good.clone();
        let items = index.ids.len();
        let first = (6 + items + 1) * 4;
        order[first..first + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        for (bytes, expected) in [
            (magic, "bad magic"),
            (short, "do not add up"),
            (order, "must be ascending"),
            (vec![0; 8], "not a session index"),
        ] {
            let err = load(&bytes).unwrap_err();
            assert_eq!(err.code(), "bundle_file_unreadable", "{err}");
            assert!(err.to_string().contains(expected), "{err}");
        }
        std::fs::remove_file(&file).unwrap();
        assert_eq!(load_missing(&path, &index), "bundle_file_missing");
    }

    fn load_missing(path: &Path, index: &Index) -> &'static str {
        files::load_sessions(path, &index.stats).unwrap_err().code()
    }

    #[test]
    fn an_unreadable_manifest_is_not_reported_missing() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model");
        built(&path);
        let manifest = path.join(MANIFEST);
        std::fs::set_permissions(&manifest, std::fs::Permissions::from_mode(0o000)).unwrap();
        let readable = std::fs::read(&manifest).is_ok(); // root reads anyway
        let result = Bundle::open(&path);
        std::fs::set_permissions(&manifest, std::fs::Permissions::from_mode(0o644)).unwrap();
        if !readable {
            let err = result.unwrap_err();
            assert_eq!(err.code(), "io_error", "{err}");
        }
        std::fs::write(&manifest, "{ not json").unwrap();
        let err = Bundle::open(&path).unwrap_err();
        assert_eq!(err.code(), "manifest_corrupt");
    }

    /// A manifest that names a part's parameters without its shape is refused, naming
    /// the part.
    #[test]
    fn parameters_without_their_shape_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model");
        built(&path);
        let manifest = path.join(MANIFEST);
        let good: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        for (shape, part) in [("next_vectors", "next-item"), ("vectors", "embedding")] {
            let mut edited = good.clone();
            edited.as_object_mut().unwrap().remove(shape);
            std::fs::write(&manifest, edited.to_string()).unwrap();
            let err = Bundle::open(&path).unwrap_err();
            assert_eq!(err.code(), "manifest_corrupt", "{err}");
            assert!(err.to_string().contains(part), "{err}");
        }
    }

    #[test]
    fn a_directory_that_is_not_a_bundle_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("notes.txt"), "keep me").unwrap();
        let err = build(
            &path,
            &mut world(),
            &IndexParams {
                embedding: Some(crate::index::embedding::EmbeddingParams::default()),
                ..IndexParams::default()
            },
            &[],
            OldRankers::Keep,
            &Silent,
        )
        .err()
        .unwrap();
        assert_eq!(err.code(), "not_a_bundle");
        assert_eq!(
            std::fs::read_to_string(path.join("notes.txt")).unwrap(),
            "keep me"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no staging left"
        );
    }

    #[test]
    fn rebuilding_swaps_the_whole_bundle_and_keeps_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model");
        built(&path);
        std::fs::write(path.join("README.txt"), "mine").unwrap();
        let params = IndexParams {
            popular: 7,
            ..IndexParams::default()
        };
        build(&path, &mut world(), &params, &[], OldRankers::Keep, &Silent).unwrap();
        let bundle = Bundle::open(&path).unwrap();
        assert_eq!(bundle.manifest().parameters.popular, 7);
        assert_eq!(bundle.index().popular.of(EventType::Click).len(), 7);
        assert_eq!(
            std::fs::read_to_string(path.join("README.txt")).unwrap(),
            "mine"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no staging left"
        );
    }
}
