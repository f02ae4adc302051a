//! Fitting the rankers: per target, LightGBM models with each objective asked for, early
//! stopping on the validation sessions, and the better objective on validation Recall@20
//! kept.

use super::MIN_POSITIVES;
#[cfg(feature = "train")]
use super::config::BoosterParams;
use super::config::TrainConfig;
use super::report::{TargetReport, Unfitted};
use super::rows::ObjectiveRows;
#[cfg(feature = "train")]
use super::rows::{Selection, ranked_recall};
#[cfg(feature = "train")]
use super::{Objective, ObjectiveChoice};
use crate::domain::EventType;
use crate::error::{Error, Result};
#[cfg(feature = "train")]
use crate::features::{FEATURE_NAMES, NUM_FEATURES};
#[cfg(feature = "train")]
use crate::lightgbm::{Booster, Dataset, LightgbmError, params_string};
use crate::progress::Progress;
#[cfg(feature = "train")]
use crate::progress::Unit;
use crate::ranker::{Rankers, TreeModel};
#[cfg(feature = "train")]
use std::time::Instant;

/// The rankers a run fitted, with their LightGBM text and how each was fitted.
pub(super) struct Fitted {
    /// LightGBM text models in [`EventType`] order; `None` for a target left to the
    /// heuristic.
    pub texts: [Option<String>; 3],
    pub rankers: Rankers,
    pub targets: [Option<TargetReport>; 3],
    /// The targets with fewer than [`MIN_POSITIVES`] labelled examples.
    pub unfitted: Vec<Unfitted>,
}

/// Fits a ranker for each target that has at least [`MIN_POSITIVES`] labelled training
/// examples and one for validation; the others are left to the heuristic.
pub(super) fn fit_rankers(
    objectives: [ObjectiveRows; 3],
    config: &TrainConfig,
    progress: &dyn Progress,
) -> Result<Fitted> {
    let mut texts: [Option<String>; 3] = Default::default();
    let mut models: [Option<TreeModel>; 3] = Default::default();
    let mut targets: [Option<TargetReport>; 3] = Default::default();
    let mut unfitted = Vec::new();
    for (objective, data) in EventType::ALL.into_iter().zip(objectives) {
        let (train_positives, validation_positives) =
            (data.train.positives(), data.valid.positives());
        if train_positives < MIN_POSITIVES || validation_positives == 0 {
            log::info!(
                "{}: {train_positives} labelled training examples ({validation_positives} for validation): too few for a ranker; the heuristic ranks them",
                objective.name()
            );
            unfitted.push(Unfitted {
                objective: objective.name().to_string(),
                train_positives,
                validation_positives,
            });
            continue;
        }
        let (text, model, report) = fit_target(data, objective, config, progress)?;
        let i = objective.index();
        (texts[i], models[i], targets[i]) = (Some(text), Some(model), Some(report));
    }
    Ok(Fitted {
        texts,
        rankers: Rankers::new(models),
        targets,
        unfitted,
    })
}

/// Trees each objective is fitted to before [`ObjectiveChoice::Best`] chooses one: the
/// objective with the higher validation Recall@20 at this point is fitted on to its end, the
/// other is dropped. On Diginetica and the generated worlds the choice equals the one made
/// after fitting both to completion, for 0.5–0.6 of the trees (BENCHMARKS.md, "Choosing the
/// objective early").
pub const OBJECTIVE_PROBE_TREES: u32 = 50;

/// Fits the ranker of one target with the objective the configuration asks for, or with
/// both for [`OBJECTIVE_PROBE_TREES`] trees and then only the better on validation
/// Recall@20. The rows are binned once for every objective, and the f32 training rows are
/// freed as soon as LightGBM holds its binned copy (a quarter of their size).
#[cfg(feature = "train")]
fn fit_target(
    mut data: ObjectiveRows,
    target: EventType,
    config: &TrainConfig,
    progress: &dyn Progress,
) -> Result<(String, TreeModel, TargetReport)> {
    let lightgbm = |e: LightgbmError| Error::Lightgbm(e.0);
    let started = Instant::now();
    let mut report = TargetReport {
        rows: data.train.len(),
        positives: data.train.positives(),
        ..TargetReport::default()
    };
    log::info!(
        "training the {} ranker: {} rows ({} positive), validation {} rows",
        target.name(),
        data.train.len(),
        data.train.positives(),
        data.valid.len()
    );
    let sets = Binned::new(&data.train, &data.valid).map_err(lightgbm)?;
    data.train = Selection::default();
    let params = &config.booster;
    let mut scores = Vec::new();
    let mut recall_of = |text: &str| -> Result<(f64, TreeModel)> {
        let model = TreeModel::parse(text)
            .map_err(|e| Error::Lightgbm(format!("reading back the trained model: {e}")))?;
        model.score_rows(&data.valid.rows, &mut scores);
        Ok((ranked_recall(&data.valid, &scores, data.valid_truth), model))
    };
    let mut run = match config.objective {
        ObjectiveChoice::Only(objective) => Run::new(&sets, params, objective).map_err(lightgbm)?,
        ObjectiveChoice::Best => {
            let probe = OBJECTIVE_PROBE_TREES.min(params.max_trees);
            progress.stage(
                &format!(
                    "training the {} ranker (binary and lambdarank, {probe} trees each)",
                    target.name()
                ),
                2 * probe as u64,
                Unit::Items,
            );
            let mut runs = Vec::new();
            for objective in [Objective::Binary, Objective::Lambdarank] {
                let mut run = Run::new(&sets, params, objective).map_err(lightgbm)?;
                run.advance(probe, progress).map_err(lightgbm)?;
                let (recall, model) = recall_of(&run.model_text().map_err(lightgbm)?)?;
                log::info!(
                    "{} ranker, {} after {} trees: validation Recall@20 {recall:.4}",
                    target.name(),
                    objective.name(),
                    model.num_trees()
                );
                report
                    .validation_recall
                    .insert(objective.name().to_string(), recall);
                runs.push((recall, run));
            }
            progress.finish();
            let lambdarank = runs.pop().expect("two runs");
            let binary = runs.pop().expect("two runs");
            // Ties keep binary, as the full comparison did.
            if lambdarank.0 > binary.0 {
                lambdarank.1
            } else {
                binary.1
            }
        }
    };
    progress.stage(
        &format!(
            "training the {} ranker ({})",
            target.name(),
            run.objective.name()
        ),
        params.max_trees as u64,
        Unit::Items,
    );
    progress.advance(run.trees as u64);
    run.advance(params.max_trees, progress).map_err(lightgbm)?;
    progress.finish();
    let text = run.model_text().map_err(lightgbm)?;
    let (recall, model) = recall_of(&text)?;
    log::info!(
        "{} ranker, {}: {} trees, validation Recall@20 {recall:.4}",
        target.name(),
        run.objective.name(),
        model.num_trees()
    );
    report
        .validation_recall
        .insert(run.objective.name().to_string(), recall);
    report.objective = model.objective().to_string();
    report.trees = model.num_trees();
    report.seconds = started.elapsed().as_secs_f64();
    Ok((text, model, report))
}

/// A target's training and validation rows as LightGBM datasets (the validation set on
/// the training set's bins), with labels and query groups: one pair serves every
/// objective, since the binary objective ignores the groups.
#[cfg(feature = "train")]
struct Binned {
    train: Dataset,
    valid: Dataset,
}

#[cfg(feature = "train")]
impl Binned {
    fn new(train: &Selection, valid: &Selection) -> std::result::Result<Self, LightgbmError> {
        let mut train_set = Dataset::from_rows(&train.rows, NUM_FEATURES, "", None)?;
        train_set.set_labels(&train.labels)?;
        train_set.set_feature_names(&FEATURE_NAMES)?;
        train_set.set_groups(&train.groups)?;
        let mut valid_set = Dataset::from_rows(&valid.rows, NUM_FEATURES, "", Some(&train_set))?;
        valid_set.set_labels(&valid.labels)?;
        valid_set.set_groups(&valid.groups)?;
        Ok(Binned {
            train: train_set,
            valid: valid_set,
        })
    }
}

/// One objective's boosting run on a target's datasets, advanced a number of trees at a
/// time with early stopping: after `early_stopping_rounds` trees without a better
/// validation metric it stops and removes those trees again. Advancing in steps gives the
/// same trees as one long run.
#[cfg(feature = "train")]
struct Run<'a> {
    booster: Booster<'a>,
    objective: Objective,
    metric: &'static str,
    higher_is_better: bool,
    /// Most trees, and trees without a better metric before the run stops.
    max_trees: u32,
    early_stopping_rounds: u32,
    best: Option<f64>,
    since_best: u32,
    /// Trees added (before any removal).
    trees: u32,
    /// Stopped early, or no tree could be added: nothing more to fit.
    stopped: bool,
}

#[cfg(feature = "train")]
impl<'a> Run<'a> {
    fn new(
        sets: &'a Binned,
        params: &BoosterParams,
        objective: Objective,
    ) -> std::result::Result<Self, LightgbmError> {
        let (metric, higher_is_better) = match objective {
            Objective::Binary => ("binary_logloss", false),
            Objective::Lambdarank => ("ndcg", true),
        };
        let booster_params = params_string(&[
            ("objective", objective.name().into()),
            ("metric", metric.into()),
            ("eval_at", "20".into()),
            ("lambdarank_truncation_level", "20".into()),
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
        Ok(Run {
            booster: Booster::new(&sets.train, &sets.valid, &booster_params)?,
            objective,
            metric,
            higher_is_better,
            max_trees: params.max_trees,
            early_stopping_rounds: params.early_stopping_rounds,
            best: None,
            since_best: 0,
            trees: 0,
            stopped: false,
        })
    }

    /// Adds trees until `until` have been added, the run stops early, or no tree can be
    /// added.
    fn advance(
        &mut self,
        until: u32,
        progress: &dyn Progress,
    ) -> std::result::Result<(), LightgbmError> {
        while !self.stopped && self.trees < until.min(self.max_trees) {
            if !self.booster.update()? {
                self.stopped = true;
                break;
            }
            self.trees += 1;
            let value = self.booster.validation_metrics()?.first().copied();
            progress.advance(1);
            let Some(value) = value else { continue };
            progress.status(&format!("validation {} {value:.5}", self.metric));
            let better = self.best.is_none_or(|b| {
                if self.higher_is_better {
                    value > b
                } else {
                    value < b
                }
            });
            if better {
                self.best = Some(value);
                self.since_best = 0;
            } else {
                self.since_best += 1;
                if self.since_best >= self.early_stopping_rounds {
                    for _ in 0..self.since_best {
                        self.booster.rollback()?;
                    }
                    self.stopped = true;
                }
            }
        }
        Ok(())
    }

    /// The model as it stands, as LightGBM text.
    fn model_text(&self) -> std::result::Result<String, LightgbmError> {
        self.booster.model_text()
    }
}

/// Without LightGBM (a build without the `train` feature), no ranker can be fitted.
#[cfg(not(feature = "train"))]
fn fit_target(
    _data: ObjectiveRows,
    _target: EventType,
    _config: &TrainConfig,
    _progress: &dyn Progress,
) -> Result<(String, TreeModel, TargetReport)> {
    Err(Error::TrainingNotBuilt)
}
