//! What a training run is asked to do: LightGBM's hyper-parameters, the objectives, the
//! labelled periods and their defaults that follow the log, checked once into a
//! [`TrainConfig`].

use serde::{Deserialize, Serialize};

use crate::candidates::CandidateConfig;
use crate::domain::DAY;
use crate::ranker::EarlyExit;

/// Share of negative training rows [`TrainConfig`] keeps by default. On Diginetica it keeps
/// HR@20 / MRR@20 (55.38 / 20.96 against 55.33 / 21.02 with every row) and the generated
/// worlds' margins (+0.0597 / +0.0597 against +0.0596 / +0.0593) for half of `train`'s time
/// and 0.37 of its memory; at 0.1 MRR@20 falls to 20.83 (BENCHMARKS.md, "Negative sampling
/// as a lever on `train`'s cost").
pub const DEFAULT_NEGATIVE_RATE: f64 = 0.3;

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
    /// Share of negative training rows kept (each with this probability; positives and
    /// validation rows are always kept).
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
            negative_rate: DEFAULT_NEGATIVE_RATE,
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
