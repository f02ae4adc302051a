//! The model a server answers with, and replacing it while it serves: the current model
//! sits behind an [`ArcSwap`], so a request takes a reference to one complete model in a
//! few nanoseconds and never waits for a reload; a reload opens and checks the new bundle
//! completely (checksums, versions, features, smoke requests) on a blocking thread and only
//! then swaps it in. On any failure the old model keeps serving. One reload runs at a time,
//! so memory peaks at the old model plus the new one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::bundle::Bundle;
use crate::domain::{EventType, Session};
use crate::error::{BundleProblem, Error, Result};
use crate::index::TableKind;
use crate::pipeline::Recommender;

/// What `/health` reports about a model.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ModelInfo {
    pub model_dir: String,
    /// The bundle's version id (the checksum of its manifest).
    pub version: String,
    /// Items the index holds statistics for: one past the largest aid when aids are dense
    /// (as OTTO's are), the number of distinct aids otherwise.
    pub items: usize,
    /// Pairs per co-visitation table, by table name.
    #[schema(value_type = std::collections::BTreeMap<String, u64>)]
    pub pairs: serde_json::Value,
    /// True when at least one objective has a ranker.
    pub rankers: bool,
    /// The objectives a LightGBM ranker ranks; the others are ranked by the heuristic (a
    /// log of clicks only trains a clicks ranker alone).
    pub ranked_objectives: Vec<&'static str>,
    pub embeddings: bool,
}

/// A loaded model: the recommender and its description.
pub struct Served {
    pub recommender: Recommender,
    pub info: ModelInfo,
}

impl Served {
    /// Opens the bundle in `dir`, checks it end to end, and answers a few smoke requests.
    pub fn load(dir: &Path) -> Result<Served> {
        let bundle = Bundle::open(dir)?;
        let version = bundle.version().to_string();
        let recommender = bundle.into_recommender();
        let index = recommender.index();
        let pairs: serde_json::Map<String, serde_json::Value> = TableKind::ALL
            .iter()
            .map(|&k| (k.name().to_string(), index.table(k).num_pairs().into()))
            .collect();
        let info = ModelInfo {
            model_dir: dir.display().to_string(),
            version,
            items: index.ids.len(),
            pairs: pairs.into(),
            rankers: recommender.has_rankers(),
            ranked_objectives: recommender
                .ranked_objectives(recommender.default_strategy())
                .into_iter()
                .map(EventType::name)
                .collect(),
            embeddings: index.embeddings.is_some(),
        };
        smoke_test(&recommender).map_err(|p| Error::bundle(dir, BundleProblem::SmokeTest(p)))?;
        Ok(Served { recommender, info })
    }
}

/// Sessions of the model's most popular items, each objective, the default strategy: every
/// answer must hold items with finite scores, best first.
fn smoke_test(recommender: &Recommender) -> std::result::Result<(), String> {
    let index = recommender.index();
    let popular = &index.popular.by_type[EventType::Click.index()];
    let aids: Vec<u32> = popular.iter().take(5).map(|&p| index.ids.aid(p)).collect();
    let ts: Vec<u32> = (0..aids.len() as u32)
        .map(|i| 1_661_724_000 + 60 * i)
        .collect();
    let types = vec![EventType::Click; aids.len()];
    let strategy = recommender.default_strategy();
    for n in [0, 1, aids.len()] {
        let session = Session::new(&aids[..n], &ts[..n], &types[..n]);
        for objective in EventType::ALL {
            let rec = recommender
                .recommend(session, objective, 20, strategy)
                .map_err(|e| e.to_string())?;
            if rec.aids.len() != rec.scores.len() {
                return Err("an answer with more items than scores".into());
            }
            if rec.scores.iter().any(|s| !s.is_finite()) {
                return Err(format!("a non-finite score for {}", objective.name()));
            }
            if rec.scores.windows(2).any(|w| w[0] < w[1]) {
                return Err("scores out of order".into());
            }
            if !recommender.index().popular.by_type[0].is_empty() && rec.aids.is_empty() {
                return Err(format!("no items for {}", objective.name()));
            }
        }
    }
    Ok(())
}

/// The model being served, swappable.
pub struct ModelSlot {
    current: ArcSwap<Served>,
    /// The directory the next plain reload (SIGHUP) reads; held while a reload runs.
    dir: Mutex<PathBuf>,
}

impl ModelSlot {
    pub fn new(served: Served, dir: PathBuf) -> Self {
        ModelSlot {
            current: ArcSwap::from_pointee(served),
            dir: Mutex::new(dir),
        }
    }

    /// The current model (a reference that stays valid however long it is held).
    pub fn current(&self) -> Arc<Served> {
        self.current.load_full()
    }

    /// Loads `dir` (the current directory when `None`) and swaps it in; on an error the
    /// current model stays. Blocks: call it off the request threads.
    pub fn reload(&self, dir: Option<PathBuf>) -> Result<Arc<Served>> {
        let mut current_dir = self.dir.lock().unwrap_or_else(|e| e.into_inner());
        let dir = dir.unwrap_or_else(|| current_dir.clone());
        let served = Arc::new(Served::load(&dir)?);
        self.current.store(served.clone());
        *current_dir = dir;
        Ok(served)
    }
}
