//! Training the rankers, as a library stage: a labelled log in, three LightGBM models and a
//! report out, no files touched.
//!
//! [`train`] splits the log by the official rule, indexes the earlier part, builds
//! candidates and feature rows for the labelled sessions, fits one model per objective
//! (sessions split 70/10/20 into training, early stopping and a held-out report) and
//! measures candidate recall and the held-out Recall@20 of the heuristic and the rankers.
//! Hyper-parameters are checked once into a [`TrainConfig`].

pub mod lightgbm;
pub mod rows;

use std::time::Instant;

use serde::{Deserialize, Serialize};

use self::lightgbm::{Booster, Dataset, LightgbmError, params_string};
use self::rows::{Selection, assign_parts, candidate_recall, holdout_recall};
use crate::candidates::CandidateConfig;
use crate::domain::{EventType, SessionLog};
use crate::error::{Error, InputProblem, Result};
use crate::features::{FEATURE_NAMES, NUM_FEATURES};
use crate::index::{self, Index, IndexParams};
use crate::metric::Recall;
use crate::pipeline::{Recommender, Strategy};
use crate::progress::{Progress, Unit};
use crate::ranker::{Rankers, TreeModel};
use crate::split::{SplitConfig, split};

/// Hyper-parameters of one LightGBM ranker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoosterParams {
    pub learning_rate: f64,
    pub num_leaves: u32,
    /// Deepest split; shallow trees keep the request-path walk short.
    pub max_depth: u32,
    pub min_data_in_leaf: u32,
    pub feature_fraction: f64,
    pub bagging_fraction: f64,
    pub lambda_l2: f64,
    pub max_trees: u32,
    pub early_stopping_rounds: u32,
    pub seed: u64,
    pub threads: usize,
}

impl Default for BoosterParams {
    fn default() -> Self {
        BoosterParams {
            learning_rate: 0.1,
            num_leaves: 31,
            max_depth: 8,
            min_data_in_leaf: 40,
            feature_fraction: 0.8,
            bagging_fraction: 0.8,
            lambda_l2: 1.0,
            max_trees: 300,
            early_stopping_rounds: 30,
            seed: 42,
            threads: 2,
        }
    }
}

/// Everything a training run is asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Days at the end of the log whose sessions are labelled.
    pub days: u32,
    /// Seed of the split, the parts and LightGBM.
    pub seed: u64,
    pub booster: BoosterParams,
    pub candidates: CandidateConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            days: 7,
            seed: 42,
            booster: BoosterParams::default(),
            candidates: CandidateConfig::default(),
        }
    }
}

/// A hyper-parameter outside its valid range.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{name} {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: &'static str,
}

impl TrainConfig {
    /// The same configuration, checked.
    pub fn validate(self) -> std::result::Result<Self, ConfigError> {
        let bad = |name, problem| Err(ConfigError { name, problem });
        let b = &self.booster;
        if self.days == 0 {
            return bad("days", "must be at least 1");
        }
        if b.max_trees == 0 {
            return bad("max_trees", "must be at least 1");
        }
        if b.num_leaves < 2 {
            return bad("num_leaves", "must be at least 2");
        }
        if !(b.learning_rate > 0.0 && b.learning_rate <= 1.0) {
            return bad("learning_rate", "must be in (0, 1]");
        }
        if b.max_depth == 0 {
            return bad("max_depth", "must be at least 1");
        }
        for (name, f) in [
            ("feature_fraction", b.feature_fraction),
            ("bagging_fraction", b.bagging_fraction),
        ] {
            if !(f > 0.0 && f <= 1.0) {
                return bad(name, "must be in (0, 1]");
            }
        }
        if b.threads == 0 {
            return bad("threads", "must be at least 1");
        }
        Ok(self)
    }
}

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

impl<T: Copy> PerObjective<T> {
    /// From an array in [`EventType`] order.
    pub fn from_array(values: [T; 3]) -> Self {
        PerObjective {
            clicks: values[0],
            carts: values[1],
            orders: values[2],
        }
    }
}

/// Held-out Recall@20 of the heuristic and of the rankers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HoldoutRecall {
    pub heuristic: Recall,
    pub ranker: Recall,
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
    /// Wall time of the run, seconds.
    #[serde(default)]
    pub seconds: f64,
}

/// The result of a training run: the models (as LightGBM text and parsed) and the report.
pub struct Trained {
    /// LightGBM text models, in [`EventType`] order.
    pub texts: [String; 3],
    pub rankers: Rankers,
    pub report: TrainReport,
}

/// Trains the three rankers on `log` (named `input` in the report). The candidates are
/// drawn from an index of the log's earlier part, built with `params` (the serving
/// index's parameters), so training sees what serving will.
pub fn train(
    log: &SessionLog,
    input: &str,
    params: &IndexParams,
    config: &TrainConfig,
    progress: &dyn Progress,
) -> Result<Trained> {
    let started = Instant::now();
    let split = split(
        log,
        SplitConfig {
            days: config.days,
            seed: config.seed,
        },
    );
    if split.test.len() < 50 {
        return Err(Error::input(
            input,
            InputProblem::TooFewSessions {
                days: config.days,
                sessions: split.test.len(),
            },
        ));
    }
    log::info!(
        "split: {} sessions before the last {} days index the candidates; {} labelled sessions train the rankers",
        split.train.len(),
        config.days,
        split.test.len()
    );
    let index: Index = index::build(&split.train, params, progress);
    progress.stage(
        "candidates and features",
        split.test.len() as u64,
        Unit::Items,
    );
    let set = rows::build(
        &index,
        &split.test,
        &split.labels,
        &config.candidates,
        progress,
    );
    progress.finish();
    let parts = assign_parts(split.test.len(), config.seed);
    let all: Vec<usize> = (0..split.test.len()).collect();
    let candidates = candidate_recall(&set, &split.labels, &all);
    log::info!(
        "{} candidates per session on average; candidate recall: {candidates}",
        set.rows.len() / NUM_FEATURES / set.sessions().max(1)
    );

    let mut texts = Vec::with_capacity(3);
    let mut models = Vec::with_capacity(3);
    for objective in EventType::ALL {
        let train = set.select(&parts[0], objective);
        let valid = set.select(&parts[1], objective);
        if train.positives() == 0 || valid.positives() == 0 {
            return Err(Error::input(
                input,
                InputProblem::NoPositives {
                    objective: objective.name(),
                },
            ));
        }
        log::info!(
            "training the {} ranker: {} rows ({} positive), validation {} rows",
            objective.name(),
            train.labels.len(),
            train.positives(),
            valid.labels.len()
        );
        let text = fit(&train, &valid, &config.booster, objective, progress)
            .map_err(|e| Error::Lightgbm(e.0))?;
        let model = TreeModel::parse(&text)
            .map_err(|e| Error::Lightgbm(format!("reading back the trained model: {e}")))?;
        models.push(model);
        texts.push(text);
    }
    let trees = PerObjective::from_array([0, 1, 2].map(|i| models[i].num_trees()));
    let rankers = Rankers {
        models: models.try_into().expect("three models"),
    };
    let recommender = Recommender::with_rankers(index, rankers.clone(), config.candidates);
    let holdout = HoldoutRecall {
        heuristic: holdout_recall(
            &recommender,
            &split.test,
            &split.labels,
            &parts[2],
            Strategy::Heuristic,
        )?,
        ranker: holdout_recall(
            &recommender,
            &split.test,
            &split.labels,
            &parts[2],
            Strategy::Ranker,
        )?,
    };
    let report = TrainReport {
        input: input.to_string(),
        days: config.days,
        seed: config.seed,
        objective: "binary".into(),
        params: config.booster.clone(),
        candidates: config.candidates,
        feature_names: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        trees,
        sessions: PartSizes {
            train: parts[0].len(),
            validation: parts[1].len(),
            holdout: parts[2].len(),
        },
        candidate_recall: candidates,
        holdout_recall: holdout,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(Trained {
        texts: texts.try_into().expect("three models"),
        rankers,
        report,
    })
}

/// Fits one binary LightGBM model with early stopping on `valid`; returns it as LightGBM
/// text, cut back to its best iteration.
pub fn fit(
    train: &Selection,
    valid: &Selection,
    params: &BoosterParams,
    objective: EventType,
    progress: &dyn Progress,
) -> std::result::Result<String, LightgbmError> {
    let booster_params = params_string(&[
        ("objective", "binary".into()),
        ("metric", "binary_logloss".into()),
        ("learning_rate", params.learning_rate.to_string()),
        ("num_leaves", params.num_leaves.to_string()),
        ("max_depth", params.max_depth.to_string()),
        ("min_data_in_leaf", params.min_data_in_leaf.to_string()),
        ("feature_fraction", params.feature_fraction.to_string()),
        ("bagging_fraction", params.bagging_fraction.to_string()),
        ("bagging_freq", "1".into()),
        ("lambda_l2", params.lambda_l2.to_string()),
        ("num_iterations", params.max_trees.to_string()),
        ("seed", params.seed.to_string()),
        ("deterministic", "true".into()),
        ("force_row_wise", "true".into()),
        ("num_threads", params.threads.to_string()),
        ("verbose", "-1".into()),
    ]);
    let mut train_set = Dataset::from_rows(&train.rows, NUM_FEATURES, "", None)?;
    train_set.set_labels(&train.labels)?;
    train_set.set_feature_names(&FEATURE_NAMES)?;
    let mut valid_set = Dataset::from_rows(&valid.rows, NUM_FEATURES, "", Some(&train_set))?;
    valid_set.set_labels(&valid.labels)?;
    let mut booster = Booster::new(&train_set, &valid_set, &booster_params)?;

    progress.stage(
        &format!("training the {} ranker", objective.name()),
        params.max_trees as u64,
        Unit::Items,
    );
    // Early stopping: stop after `early_stopping_rounds` trees without a lower validation
    // log loss, and remove those trees again.
    let mut best = f64::INFINITY;
    let mut since_best = 0u32;
    for _ in 0..params.max_trees {
        if !booster.update()? {
            break;
        }
        let loss = booster.validation_metrics()?.first().copied();
        progress.advance(1);
        let Some(loss) = loss else { continue };
        progress.status(&format!("validation log loss {loss:.5}"));
        if loss < best {
            best = loss;
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= params.early_stopping_rounds {
                for _ in 0..since_best {
                    booster.rollback()?;
                }
                break;
            }
        }
    }
    progress.finish();
    booster.model_text()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_hyper_parameter_is_named() {
        let ok = TrainConfig::default();
        assert_eq!(ok.clone().validate(), Ok(ok.clone()));
        let mut c = ok.clone();
        c.booster.learning_rate = 0.0;
        assert_eq!(c.validate().unwrap_err().name, "learning_rate");
        let mut c = ok.clone();
        c.booster.num_leaves = 1;
        assert_eq!(c.validate().unwrap_err().name, "num_leaves");
        let mut c = ok.clone();
        c.days = 0;
        assert_eq!(c.validate().unwrap_err().name, "days");
        let mut c = ok;
        c.booster.bagging_fraction = 1.5;
        assert_eq!(c.validate().unwrap_err().name, "bagging_fraction");
    }
}
