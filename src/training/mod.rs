//! Training the rankers, as a library stage: a labelled log in, three LightGBM models and a
//! report out, no files touched.
//!
//! [`train`] runs named stages, each in its own module:
//! 1. the plan (`periods`): the labelled period's length, the periods and the cuts per
//!    session, from the [`TrainConfig`] (checked once) or the defaults that follow the log;
//! 2. the last period (`periods`): the log split by the official rule, the earlier part
//!    indexed, candidates and feature rows written for the labelled sessions ([`rows`]);
//! 3. the earlier periods (`periods`): the same on the log as it was k periods earlier
//!    (their sessions train and validate only);
//! 4. the rankers (`fit`): one model per target, binary and LambdaRank (query groups =
//!    sessions) side by side, whichever ranks the validation sessions better kept;
//! 5. the measurements: candidate recall, and the held-out Recall@20 of the heuristic and
//!    the rankers, into a [`TrainReport`] (`report`).

mod config;
pub mod fit;
mod periods;
mod report;
pub mod rows;

use std::time::Instant;

pub use self::config::{
    AUTO_DAYS, AUTO_FOLDS_SESSIONS, BoosterParams, ConfigError, DEFAULT_EARLY_EXIT,
    DEFAULT_NEGATIVE_RATE, MAX_AUTO_FOLDS, Objective, ObjectiveChoice, SMALL_LOG_CUTS, TrainConfig,
    auto_cuts, auto_days, auto_folds,
};
use self::fit::fit_rankers;
use self::periods::{Plan, label_earlier_periods, label_last_period};
pub use self::report::{
    HoldoutRecall, PartSizes, PerObjective, TargetReport, TrainReport, Unfitted,
};
use self::rows::{Role, RowOptions};
use crate::domain::{EventType, SessionLog};
use crate::error::{Error, InputProblem, Result};
use crate::features::FEATURE_NAMES;
use crate::index::IndexParams;
use crate::progress::Progress;
use crate::ranker::{Rankers, TreeModel};

/// Fewest positive training rows a target's ranker is fitted on (and validation needs at
/// least one, for early stopping); a target with fewer is left to the heuristic. Logs of
/// clicks only, or without orders, have none for the missing types.
pub const MIN_POSITIVES: usize = 10;

/// The result of a training run: the models (as LightGBM text and parsed) and the report.
pub struct Trained {
    /// LightGBM text models in [`EventType`] order; `None` for a target left to the
    /// heuristic.
    pub texts: [Option<String>; 3],
    pub rankers: Rankers,
    pub report: TrainReport,
}

/// Trains the three rankers on `log` (named `input` in the report). The candidates are
/// drawn from an index of the log's earlier part, built with `params` (the serving
/// index's parameters), so training sees what serving will.
///
/// The log is taken by value so that it, and each part of it, is freed as soon as the run
/// no longer needs it: at Kaggle scale the log and its split are several GB that would
/// otherwise stay resident while LightGBM fits.
pub fn train(
    log: SessionLog,
    input: &str,
    params: &IndexParams,
    config: &TrainConfig,
    progress: &dyn Progress,
) -> Result<Trained> {
    check_available()?;
    let started = Instant::now();
    let options = RowOptions {
        candidates: &config.candidates,
        negative_rate: config.negative_rate,
        seed: config.seed,
    };
    let (plan, split0) = Plan::of(&log, input, config)?;
    // Only earlier periods read the whole log again.
    let log = (plan.folds > 1).then_some(log);
    let (last, mut rows) = label_last_period(split0, &plan, params, config, &options, progress);
    if let Some(log) = log {
        label_earlier_periods(&log, &plan, params, config, &options, &mut rows, progress);
    }
    let fitted = fit_rankers(rows.objectives, config, progress)?;
    if fitted.unfitted.len() == EventType::ALL.len() {
        return Err(Error::input(
            input,
            InputProblem::NoPositives { min: MIN_POSITIVES },
        ));
    }
    let count = |r: Role| last.roles.iter().filter(|&&x| x == r).count();
    let sessions = PartSizes {
        train: count(Role::Train),
        validation: count(Role::Valid),
        holdout: count(Role::Holdout),
    };
    let (candidate_recall, candidates_per_session) =
        (last.candidate_recall, last.candidates_per_session);
    let holdout_recall = last.holdout_recall(fitted.rankers.clone(), config)?;
    let objectives: Vec<&str> = fitted
        .targets
        .iter()
        .flatten()
        .map(|t| t.objective.as_str())
        .collect();
    let objective = if objectives.iter().all(|o| *o == objectives[0]) {
        objectives[0].to_string()
    } else {
        "per target".to_string()
    };
    let report = TrainReport {
        input: input.to_string(),
        days: plan.days,
        seed: config.seed,
        objective,
        params: config.booster.clone(),
        candidates: config.candidates,
        feature_names: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        trees: PerObjective::from_array(
            EventType::ALL.map(|o| fitted.rankers.model(o).map_or(0, TreeModel::num_trees)),
        ),
        sessions,
        candidate_recall,
        holdout_recall,
        seconds: started.elapsed().as_secs_f64(),
        candidates_per_session,
        folds: plan.folds,
        negative_rate: config.negative_rate,
        cuts: plan.cuts,
        targets: Some(PerObjective::from_array(fitted.targets)),
        unfitted: fitted.unfitted,
        embeddings: params.embedding.is_some(),
        session_knn: params.sessions.is_some() && config.candidates.knn > 0,
        next_item: params.next_item.is_some(),
        early_exit: config.early_exit,
    };
    Ok(Trained {
        texts: fitted.texts,
        rankers: fitted.rankers,
        report,
    })
}

/// Whether this build can train rankers: an error saying how to get one that can, when
/// it was built without the `train` feature (LightGBM).
pub fn check_available() -> Result<()> {
    if cfg!(feature = "train") {
        Ok(())
    } else {
        Err(Error::TrainingNotBuilt)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn too_few_sessions_says_which_days_make_the_log_train() {
        let message = |days, span_days| {
            crate::error::InputProblem::TooFewSessions {
                days,
                span_days,
                sessions: 0,
            }
            .to_string()
        };
        assert!(
            message(7, 6).contains("try `--days 1`"),
            "{}",
            message(7, 6)
        );
        assert!(
            message(25, 40).contains("try `--days 8`"),
            "{}",
            message(25, 40)
        );
        assert!(message(1, 2).contains("more days"), "{}", message(1, 2));
        assert!(
            message(7, 100).contains("`--days 14`"),
            "{}",
            message(7, 100)
        );
    }
}
