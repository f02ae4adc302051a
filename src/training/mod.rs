//! Training the rankers, as a library stage: a labelled log in, three LightGBM models and a
//! report out, no files touched.
//!
//! [`train`] splits the log by the official rule, indexes the earlier part, builds
//! candidates and feature rows for the labelled sessions ([`rows`]), fits one model per
//! objective — binary and LambdaRank (query groups = sessions) side by side, keeping
//! whichever ranks the validation sessions better — and measures candidate recall and the
//! held-out Recall@20 of the heuristic and the rankers. More folds label more sessions:
//! fold k repeats the split on the log as it was k test periods earlier (its sessions only
//! train). Hyper-parameters are checked once into a [`TrainConfig`].

pub mod rows;

use std::time::Instant;

use serde::{Deserialize, Serialize};

use self::rows::{
    ObjectiveRows, Role, RowOptions, assign_earlier_roles, assign_roles, holdout_recall,
};
#[cfg(feature = "train")]
use self::rows::{Selection, ranked_recall};
use crate::candidates::CandidateConfig;
use crate::domain::{DAY, EventType, SessionLog, Timestamp};
use crate::error::{Error, InputProblem, Result};
use crate::features::FEATURE_NAMES;
#[cfg(feature = "train")]
use crate::features::NUM_FEATURES;
use crate::index::{self, IndexParams};
#[cfg(feature = "train")]
use crate::lightgbm::{Booster, Dataset, LightgbmError, params_string};
use crate::metric::Recall;
use crate::pipeline::{Recommender, Strategy};
use crate::progress::{Progress, Unit};
use crate::ranker::{EarlyExit, Rankers, TreeModel};
use crate::split::{Split, SplitConfig, more_cuts, split};

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

/// A LightGBM learning objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Binary log loss: each candidate on its own.
    Binary,
    /// LambdaRank on NDCG@20, the candidates of a session as one query.
    Lambdarank,
}

impl Objective {
    /// LightGBM's name.
    pub fn name(self) -> &'static str {
        match self {
            Objective::Binary => "binary",
            Objective::Lambdarank => "lambdarank",
        }
    }
}

/// Which objectives a run fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectiveChoice {
    /// Only this one.
    Only(Objective),
    /// Both, keeping per target the one with the higher validation Recall@20.
    Best,
}

/// Everything a training run is asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Days at the end of the log whose sessions are labelled; `None`: as many as
    /// [`auto_days`] gives for the log's span.
    pub days: Option<u32>,
    /// Seed of the split, the parts and LightGBM.
    pub seed: u64,
    pub booster: BoosterParams,
    pub candidates: CandidateConfig,
    pub objective: ObjectiveChoice,
    /// Test periods labelled: 1 is the last `days`; each more adds the period before.
    /// `None`: as many as [`auto_folds`] gives for the log.
    pub folds: Option<u32>,
    /// Cuts of each labelled training session (1: the split's own; more label its other
    /// prefixes too, as the session-based recommendation papers train on every prefix).
    /// `None`: as many as [`auto_cuts`] gives for the log.
    pub cuts: Option<u32>,
    /// Share of negative training rows kept.
    pub negative_rate: f64,
    /// Validation sessions at most (the rest of the 10 % train).
    pub max_validation_sessions: usize,
    /// How the bundle's recommender scores candidates (`None`: all on every tree); the
    /// held-out recall is measured with it.
    pub early_exit: Option<EarlyExit>,
}

/// The default early exit: every candidate on the first 20 trees, the best 40 on the rest
/// (BENCHMARKS.md: Recall@20 within 0.0004 of full scoring on generated worlds, the same
/// HR@20 on Diginetica).
pub const DEFAULT_EARLY_EXIT: EarlyExit = EarlyExit {
    trees: 20,
    keep: 40,
};

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            days: None,
            seed: 42,
            booster: BoosterParams::default(),
            candidates: CandidateConfig::default(),
            objective: ObjectiveChoice::Best,
            folds: None,
            cuts: None,
            negative_rate: 1.0,
            max_validation_sessions: 50_000,
            early_exit: Some(DEFAULT_EARLY_EXIT),
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
        if self.days == Some(0) {
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
        if self.folds == Some(0) {
            return bad("folds", "must be at least 1");
        }
        if self.cuts == Some(0) {
            return bad("cuts", "must be at least 1");
        }
        if !(self.negative_rate > 0.0 && self.negative_rate <= 1.0) {
            return bad("negative_rate", "must be in (0, 1]");
        }
        if self.max_validation_sessions < 50 {
            return bad("max_validation_sessions", "must be at least 50");
        }
        if self.early_exit.is_some_and(|e| e.keep == 0) {
            return bad("early_exit", "must keep at least 1 candidate");
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
    /// Validation Recall@20 of each objective fitted, by name.
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
/// training and validation sessions were fewer than [`MIN_POSITIVES`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unfitted {
    pub objective: String,
    /// Positive rows (a candidate in the session's truth) for training and validation.
    pub train_positives: usize,
    pub validation_positives: usize,
}

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

    let span = log.ts_range().map_or(0, |(first, last)| last - first);
    let days = config.days.unwrap_or_else(|| auto_days(span));
    // Fold 0: the last test period; its sessions train, validate and are held out.
    let mut split0 = split(
        &log,
        SplitConfig {
            days,
            seed: config.seed,
        },
    );
    let folds = config
        .folds
        .unwrap_or_else(|| auto_folds(split0.test.len()));
    let cuts = config.cuts.unwrap_or_else(|| auto_cuts(split0.test.len()));
    // Only earlier folds read the whole log again.
    let log = (folds > 1).then_some(log);
    if split0.test.len() < 50 {
        return Err(Error::input(
            input,
            InputProblem::TooFewSessions {
                days,
                span_days: span / DAY,
                sessions: split0.test.len(),
            },
        ));
    }
    log::info!(
        "split: {} sessions before the last {} days index the candidates; {} labelled sessions train the rankers",
        split0.train.len(),
        days,
        split0.test.len()
    );
    let roles = assign_roles(
        split0.test.len(),
        config.seed,
        config.max_validation_sessions,
    );
    let index0 = index::build(&mut split0.train, params, progress);
    progress.stage(
        "candidates and features",
        split0.test.len() as u64,
        Unit::Items,
    );
    let mut rows = build_rows(
        &index0,
        &split0.test,
        &split0.labels,
        &roles,
        &options,
        progress,
    );
    progress.finish();
    let candidate_recall = rows.candidate_recall.recall();
    let candidates_per_session = rows.candidates as f64 / rows.sessions.max(1) as f64;
    log::info!(
        "{candidates_per_session:.1} candidates per session on average; candidate recall: {candidate_recall}"
    );

    // More cuts of the training sessions (validation and held-out sessions keep the
    // split's one cut, as the metric defines).
    let train_sessions = (0..roles.len()).filter(|&s| roles[s] == Role::Train);
    rows.merge_train(more_cut_rows(
        &index0,
        &split0,
        train_sessions,
        config,
        cuts,
        0,
        &options,
        progress,
    ));
    let Split {
        test: test0,
        labels: labels0,
        ..
    } = split0;

    // Earlier folds: the log as it was k periods ago, split the same way; train only.
    if let Some((log, last)) = log.as_ref().and_then(|l| Some((l, l.last_timestamp()?))) {
        for fold in 1..folds {
            let shift = fold as u64 * days as u64 * DAY as u64 * 1000;
            let millis = last.as_millis().saturating_sub(shift) + 1;
            let cutoff = Timestamp {
                seconds: (millis / 1000) as u32,
                millis: (millis % 1000) as u16,
            };
            let earlier = log.before(cutoff);
            let mut split = split(
                &earlier,
                SplitConfig {
                    days,
                    seed: config.seed.wrapping_add(fold as u64),
                },
            );
            drop(earlier);
            if split.test.is_empty() {
                break;
            }
            let index = index::build(&mut split.train, params, progress);
            // A tenth of the fold's sessions validate: early stopping and the choice of
            // objective then see every period, not a tenth of the last one alone.
            let valid_so_far = rows.valid_sessions();
            let fold_roles = assign_earlier_roles(
                split.test.len(),
                config.seed.wrapping_add(fold as u64),
                config.max_validation_sessions.saturating_sub(valid_so_far),
            );
            progress.stage(
                &format!("candidates and features, fold {}", fold + 1),
                split.test.len() as u64,
                Unit::Items,
            );
            let more = build_rows(
                &index,
                &split.test,
                &split.labels,
                &fold_roles,
                &options,
                progress,
            );
            progress.finish();
            rows.merge_fold(more);
            let fold_train = (0..fold_roles.len()).filter(|&s| fold_roles[s] == Role::Train);
            rows.merge_train(more_cut_rows(
                &index, &split, fold_train, config, cuts, fold, &options, progress,
            ));
        }
    }
    drop(log);

    let mut texts: [Option<String>; 3] = Default::default();
    let mut models: [Option<TreeModel>; 3] = Default::default();
    let mut targets: [Option<TargetReport>; 3] = Default::default();
    let mut unfitted = Vec::new();
    for objective in EventType::ALL {
        let data = std::mem::take(&mut rows.objectives[objective.index()]);
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
    if unfitted.len() == EventType::ALL.len() {
        return Err(Error::input(
            input,
            InputProblem::NoPositives { min: MIN_POSITIVES },
        ));
    }
    let trees = PerObjective::from_array(
        [0, 1, 2].map(|i| models[i].as_ref().map_or(0, TreeModel::num_trees)),
    );
    let rankers = Rankers::new(models);
    let holdout: Vec<usize> = (0..roles.len())
        .filter(|&s| roles[s] == Role::Holdout)
        .collect();
    let recommender = Recommender::with_rankers(
        index0,
        rankers.clone(),
        config.candidates,
        config.early_exit,
    );
    let holdout_recall = HoldoutRecall {
        heuristic: holdout_recall(
            &recommender,
            &test0,
            &labels0,
            &holdout,
            Strategy::Heuristic,
        )?,
        ranker: holdout_recall(&recommender, &test0, &labels0, &holdout, Strategy::Ranker)?,
    };
    let count = |r: Role| roles.iter().filter(|&&x| x == r).count();
    let objectives: Vec<&str> = targets
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
        days,
        seed: config.seed,
        objective,
        params: config.booster.clone(),
        candidates: config.candidates,
        feature_names: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        trees,
        sessions: PartSizes {
            train: count(Role::Train),
            validation: count(Role::Valid),
            holdout: count(Role::Holdout),
        },
        candidate_recall,
        holdout_recall,
        seconds: started.elapsed().as_secs_f64(),
        candidates_per_session,
        folds,
        negative_rate: config.negative_rate,
        cuts,
        targets: Some(PerObjective::from_array(targets)),
        unfitted,
        embeddings: params.embedding.is_some(),
        session_knn: params.sessions.is_some() && config.candidates.knn > 0,
        next_item: params.embedding.is_some_and(|e| e.next_item.is_some()),
        early_exit: config.early_exit,
    };
    Ok(Trained {
        texts,
        rankers,
        report,
    })
}

/// Days [`auto_days`] labels on a log that spans two weeks or more: the competition's week.
pub const AUTO_DAYS: u32 = 7;

/// The labelled period of a log that spans `span` seconds: [`AUTO_DAYS`] when the log holds
/// twice as many, else a fifth of its span (the competition's four weeks indexed to one
/// labelled), at least one day — so that a log of a few days trains with the defaults.
pub fn auto_days(span: u32) -> u32 {
    let span_days = span / DAY;
    if span_days >= 2 * AUTO_DAYS {
        AUTO_DAYS
    } else {
        (span_days / 5).max(1)
    }
}

/// Labelled sessions that [`auto_folds`] aims for: fewer let the rankers see too few
/// examples (on Diginetica's 9,000 sessions a week, twelve periods with the session-kNN
/// candidates give HR@20 54.5 against 54.3 with four and 53.5 with one; BENCHMARKS.md),
/// while a log with as many in its last period (OTTO's 1.7M) labels that one alone, and
/// the generated worlds' 52,000 label two.
pub const AUTO_FOLDS_SESSIONS: usize = 100_000;
/// Periods [`auto_folds`] labels at most.
pub const MAX_AUTO_FOLDS: u32 = 12;

/// The periods to label when the last holds `sessions` labelled sessions: enough to reach
/// [`AUTO_FOLDS_SESSIONS`], at most [`MAX_AUTO_FOLDS`].
pub fn auto_folds(sessions: usize) -> u32 {
    AUTO_FOLDS_SESSIONS
        .div_ceil(sessions.max(1))
        .clamp(1, MAX_AUTO_FOLDS as usize) as u32
}

/// Cuts [`auto_cuts`] labels per training session on small logs.
pub const SMALL_LOG_CUTS: u32 = 4;

/// The cuts to label per training session when the last period holds `sessions` labelled
/// sessions: [`SMALL_LOG_CUTS`] below [`AUTO_FOLDS_SESSIONS`], where more examples pay
/// (Diginetica, seeds 42 and 43: HR@20 +0.20 and +0.37, MRR@20 +0.25 and +0.26;
/// BENCHMARKS.md), one on logs as large as OTTO's, whose last week alone labels enough and
/// whose rows would not fit in memory four times over.
pub fn auto_cuts(sessions: usize) -> u32 {
    if sessions < AUTO_FOLDS_SESSIONS {
        SMALL_LOG_CUTS
    } else {
        1
    }
}

/// Training rows of `cuts - 1` more cuts of each of the `chosen` sessions of a fold's
/// split (none with one cut per session).
#[allow(clippy::too_many_arguments)]
fn more_cut_rows(
    index: &index::Index,
    split: &Split,
    chosen: impl Iterator<Item = usize>,
    config: &TrainConfig,
    cuts: u32,
    fold: u32,
    options: &RowOptions<'_>,
    progress: &dyn Progress,
) -> rows::Rows {
    let extra = cuts.saturating_sub(1) as usize;
    if extra == 0 {
        return rows::Rows::default();
    }
    // A stream of its own per fold: the split's cuts keep their draws.
    let seed = config.seed ^ 0x6375_7473 ^ (fold as u64) << 40;
    let (sessions, labels) = more_cuts(split, chosen, extra, seed);
    progress.stage(
        &format!("candidates and features, more cuts (fold {})", fold + 1),
        sessions.len() as u64,
        Unit::Items,
    );
    let all_train = vec![Role::Train; sessions.len()];
    let rows = build_rows(index, &sessions, &labels, &all_train, options, progress);
    progress.finish();
    rows
}

/// [`rows::build`] for sessions and labels in aids: converted to the index's positions
/// first when they differ.
fn build_rows(
    index: &index::Index,
    sessions: &SessionLog,
    labels: &[crate::domain::SessionLabels],
    roles: &[Role],
    options: &RowOptions<'_>,
    progress: &dyn Progress,
) -> rows::Rows {
    let local_sessions = index.ids.localize_log(sessions);
    let local_labels = index.ids.localize_labels(labels);
    rows::build(
        index,
        local_sessions.as_ref().unwrap_or(sessions),
        local_labels.as_deref().unwrap_or(labels),
        roles,
        options,
        progress,
    )
}

/// Fits the ranker of one target with each objective the configuration asks for and keeps
/// the one with the higher validation Recall@20. The rows are binned once for every
/// objective, and the f32 training rows are freed as soon as LightGBM holds its binned
/// copy (a quarter of their size).
#[cfg(feature = "train")]
fn fit_target(
    mut data: ObjectiveRows,
    target: EventType,
    config: &TrainConfig,
    progress: &dyn Progress,
) -> Result<(String, TreeModel, TargetReport)> {
    let objectives: &[Objective] = match &config.objective {
        ObjectiveChoice::Only(o) => std::slice::from_ref(o),
        ObjectiveChoice::Best => &[Objective::Binary, Objective::Lambdarank],
    };
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
    let sets = Binned::new(&data.train, &data.valid).map_err(|e| Error::Lightgbm(e.0))?;
    data.train = Selection::default();
    let mut best: Option<(f64, String, TreeModel)> = None;
    let mut scores = Vec::new();
    for &objective in objectives {
        let text = sets
            .fit(&config.booster, objective, target, progress)
            .map_err(|e| Error::Lightgbm(e.0))?;
        let model = TreeModel::parse(&text)
            .map_err(|e| Error::Lightgbm(format!("reading back the trained model: {e}")))?;
        model.score_rows(&data.valid.rows, &mut scores);
        let recall = ranked_recall(&data.valid, &scores, data.valid_truth);
        log::info!(
            "{} ranker, {}: {} trees, validation Recall@20 {recall:.4}",
            target.name(),
            objective.name(),
            model.num_trees()
        );
        report
            .validation_recall
            .insert(objective.name().to_string(), recall);
        if best.as_ref().is_none_or(|(r, _, _)| recall > *r) {
            best = Some((recall, text, model));
        }
    }
    let (_, text, model) = best.expect("at least one objective");
    report.objective = model.objective().to_string();
    report.trees = model.num_trees();
    report.seconds = started.elapsed().as_secs_f64();
    Ok((text, model, report))
}

/// Fits one LightGBM model with early stopping on `valid`; returns it as LightGBM text,
/// cut back to its best iteration.
#[cfg(feature = "train")]
pub fn fit(
    train: &Selection,
    valid: &Selection,
    params: &BoosterParams,
    objective: Objective,
    target: EventType,
    progress: &dyn Progress,
) -> std::result::Result<String, LightgbmError> {
    Binned::new(train, valid)?.fit(params, objective, target, progress)
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

    /// Fits one model with early stopping on the validation set; returns it as LightGBM
    /// text, cut back to its best iteration.
    fn fit(
        &self,
        params: &BoosterParams,
        objective: Objective,
        target: EventType,
        progress: &dyn Progress,
    ) -> std::result::Result<String, LightgbmError> {
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
        let mut booster = Booster::new(&self.train, &self.valid, &booster_params)?;

        progress.stage(
            &format!(
                "training the {} ranker ({})",
                target.name(),
                objective.name()
            ),
            params.max_trees as u64,
            Unit::Items,
        );
        // Early stopping: stop after `early_stopping_rounds` trees without a better validation
        // metric, and remove those trees again.
        let mut best: Option<f64> = None;
        let mut since_best = 0u32;
        for _ in 0..params.max_trees {
            if !booster.update()? {
                break;
            }
            let value = booster.validation_metrics()?.first().copied();
            progress.advance(1);
            let Some(value) = value else { continue };
            progress.status(&format!("validation {metric} {value:.5}"));
            let better = best.is_none_or(|b| {
                if higher_is_better {
                    value > b
                } else {
                    value < b
                }
            });
            if better {
                best = Some(value);
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
    use super::*;

    #[test]
    fn auto_folds_label_earlier_periods_until_a_hundred_thousand_sessions() {
        assert_eq!(auto_folds(1_700_000), 1, "OTTO's last week suffices");
        assert_eq!(auto_folds(100_000), 1);
        assert_eq!(auto_folds(51_718), 2, "a generated world's last week");
        assert_eq!(auto_folds(8_981), 12, "Diginetica's last week, capped");
        assert_eq!(auto_folds(0), MAX_AUTO_FOLDS);
    }

    #[test]
    fn auto_cuts_label_more_prefixes_on_small_logs_only() {
        assert_eq!(auto_cuts(1_700_000), 1, "OTTO's last week");
        assert_eq!(auto_cuts(100_000), 1);
        assert_eq!(
            auto_cuts(51_718),
            SMALL_LOG_CUTS,
            "a generated world's last week"
        );
        assert_eq!(auto_cuts(8_981), SMALL_LOG_CUTS, "Diginetica's last week");
    }

    #[test]
    fn auto_days_label_a_week_of_two_and_a_fifth_of_shorter_logs() {
        assert_eq!(auto_days(145 * DAY), 7, "Diginetica");
        assert_eq!(
            auto_days(28 * DAY),
            7,
            "OTTO's and the generated worlds' four weeks"
        );
        assert_eq!(auto_days(14 * DAY), 7);
        assert_eq!(auto_days(14 * DAY - 1), 2);
        assert_eq!(auto_days(6 * DAY + 3_600), 1, "a six-day sample");
        assert_eq!(auto_days(0), 1);
    }

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
        c.days = Some(0);
        assert_eq!(c.validate().unwrap_err().name, "days");
        let mut c = ok;
        c.booster.bagging_fraction = 1.5;
        assert_eq!(c.validate().unwrap_err().name, "bagging_fraction");
    }
}
