//! What a training run did and measured: stored in the bundle's manifest and printed by
//! `train`.

use serde::{Deserialize, Serialize};

use super::config::BoosterParams;
use crate::candidates::CandidateConfig;
use crate::domain::EventType;
use crate::metric::Recall;
use crate::ranker::EarlyExit;

/// Labelled sessions in each part of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSizes {
    pub train: usize,
    pub validation: usize,
    pub holdout: usize,
}

/// A value per objective.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PerObjective<T> {
    pub clicks: T,
    pub carts: T,
    pub orders: T,
}

impl<T> PerObjective<T> {
    /// From an array in [`EventType`] order.
    pub fn from_array(values: [T; 3]) -> Self {
        let [clicks, carts, orders] = values;
        PerObjective {
            clicks,
            carts,
            orders,
        }
    }

    /// The value of `objective`.
    pub fn get(&self, objective: EventType) -> &T {
        match objective {
            EventType::Click => &self.clicks,
            EventType::Cart => &self.carts,
            EventType::Order => &self.orders,
        }
    }
}

/// Held-out Recall@20 of the heuristic and of the rankers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HoldoutRecall {
    pub heuristic: Recall,
    pub ranker: Recall,
}

/// How one target's ranker was fitted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    /// The objective kept.
    pub objective: String,
    /// Validation Recall@20 of each objective fitted, by name: the kept one at its end, one
    /// dropped after [`OBJECTIVE_PROBE_TREES`](super::fit::OBJECTIVE_PROBE_TREES) trees at
    /// that point.
    pub validation_recall: std::collections::BTreeMap<String, f64>,
    pub trees: usize,
    /// Training rows (after sampling) and positives among them.
    pub rows: usize,
    pub positives: usize,
    /// Wall time of fitting, seconds: printed by `train`, not stored (a bundle depends on
    /// its inputs alone).
    #[serde(default, skip_serializing)]
    pub seconds: f64,
}

/// What a training run did and measured; stored in the bundle's manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// The input file, as the caller named it.
    pub input: String,
    pub days: u32,
    pub seed: u64,
    pub objective: String,
    pub params: BoosterParams,
    pub candidates: CandidateConfig,
    pub feature_names: Vec<String>,
    pub trees: PerObjective<usize>,
    pub sessions: PartSizes,
    pub candidate_recall: Recall,
    pub holdout_recall: HoldoutRecall,
    /// Wall time of the run, seconds: printed by `train`, not stored (a bundle depends on
    /// its inputs alone).
    #[serde(default, skip_serializing)]
    pub seconds: f64,
    /// Candidates per labelled session, on average.
    #[serde(default)]
    pub candidates_per_session: f64,
    #[serde(default)]
    pub folds: u32,
    #[serde(default)]
    pub negative_rate: f64,
    /// Cuts of each labelled training session.
    #[serde(default = "one")]
    pub cuts: u32,
    /// Per target, how its ranker was fitted; `None` for a target left to the heuristic.
    #[serde(default)]
    pub targets: Option<PerObjective<Option<TargetReport>>>,
    /// The targets left to the heuristic, with too few labelled examples to fit a ranker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfitted: Vec<Unfitted>,
    /// True when the training index had item embeddings: the rankers then read them.
    #[serde(default)]
    pub embeddings: bool,
    /// True when the rankers read the items of similar past sessions (the training index
    /// had a session index and the candidates draw from it).
    #[serde(default)]
    pub session_knn: bool,
    /// True when the training index had the next-item model: the rankers then read its
    /// score.
    #[serde(default)]
    pub next_item: bool,
    /// How the recommender scores candidates (`None`, and in bundles from before it
    /// existed: every candidate on every tree).
    #[serde(default)]
    pub early_exit: Option<EarlyExit>,
}

fn one() -> u32 {
    1
}

/// A target that got no ranker: its labelled examples among the candidates of the
/// training and validation sessions were fewer than [`MIN_POSITIVES`](super::MIN_POSITIVES).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unfitted {
    pub objective: String,
    /// Positive rows (a candidate in the session's truth) for training and validation.
    pub train_positives: usize,
    pub validation_positives: usize,
}
