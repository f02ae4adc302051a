//! The labelled periods: the log split by the official rule once per period, an index of
//! the events before each (so no period's features see its own labels), and the candidates
//! and feature rows of its labelled sessions. The last period's sessions train, validate
//! and are held out; earlier periods' sessions train and validate only.

use super::config::{TrainConfig, auto_cuts, auto_days, auto_folds};
use super::report::HoldoutRecall;
use super::rows::{self, Role, RowOptions, assign_earlier_roles, assign_roles, holdout_recall};
use crate::domain::{DAY, SessionLabels, SessionLog, Timestamp};
use crate::error::{Error, InputProblem, Result};
use crate::index::refit::FittedScorers;
use crate::index::{self, Index, IndexParams};
use crate::metric::Recall;
use crate::pipeline::{Recommender, Strategy};
use crate::progress::{Progress, Unit};
use crate::ranker::Rankers;
use crate::split::{Split, SplitConfig, more_cuts, split};

/// Fewest labelled sessions in the last period that a run trains on.
const MIN_LABELLED_SESSIONS: usize = 50;

/// How a log is labelled: the period's length in days, the periods, the cuts per training
/// session (the configuration's, or the defaults that follow the log).
#[derive(Clone, Copy, Debug)]
pub(super) struct Plan {
    pub days: u32,
    pub folds: u32,
    pub cuts: u32,
}

impl Plan {
    /// The plan for `log`, with the last period's split (which the defaults read); an
    /// error naming the `--days` that would train when the last period holds too few
    /// sessions.
    pub fn of(log: &SessionLog, input: &str, config: &TrainConfig) -> Result<(Plan, Split)> {
        let span = log.ts_range().map_or(0, |(first, last)| last - first);
        let days = config.days.unwrap_or_else(|| auto_days(span));
        let split0 = split(
            log,
            SplitConfig {
                days,
                seed: config.seed,
            },
        );
        let labelled = split0.test.len();
        if labelled < MIN_LABELLED_SESSIONS {
            return Err(Error::input(
                input,
                InputProblem::TooFewSessions {
                    days,
                    span_days: span / DAY,
                    sessions: labelled,
                },
            ));
        }
        let plan = Plan {
            days,
            folds: config.folds.unwrap_or_else(|| auto_folds(labelled)),
            cuts: config.cuts.unwrap_or_else(|| auto_cuts(labelled)),
        };
        Ok((plan, split0))
    }
}

/// The last labelled period: its index (which also answers the held-out sessions), and
/// its sessions and labels with each session's role.
pub(super) struct LastPeriod {
    index: Index,
    test: SessionLog,
    labels: Vec<SessionLabels>,
    pub roles: Vec<Role>,
    pub candidate_recall: Recall,
    pub candidates_per_session: f64,
}

/// Indexes the events before the last period and writes the rows of its sessions: one cut
/// for validation and held-out sessions (as the metric defines), `plan.cuts` for training
/// sessions. Returns the period and its rows.
pub(super) fn label_last_period(
    mut split0: Split,
    plan: &Plan,
    params: &IndexParams,
    config: &TrainConfig,
    options: &RowOptions<'_>,
    progress: &dyn Progress,
) -> (LastPeriod, rows::Rows) {
    log::info!(
        "split: {} sessions before the last {} days index the candidates; {} labelled sessions train the rankers",
        split0.train.len(),
        plan.days,
        split0.test.len()
    );
    let roles = assign_roles(
        split0.test.len(),
        config.seed,
        config.max_validation_sessions,
    );
    let index = index::build(&mut split0.train, params, progress);
    progress.stage(
        "candidates and features",
        split0.test.len() as u64,
        Unit::Items,
    );
    let mut rows = build_rows(
        &index,
        &split0.test,
        &split0.labels,
        &roles,
        options,
        progress,
    );
    progress.finish();
    let candidate_recall = rows.candidate_recall.recall();
    let candidates_per_session = rows.candidates as f64 / rows.sessions.max(1) as f64;
    log::info!(
        "{candidates_per_session:.1} candidates per session on average; candidate recall: {candidate_recall}"
    );
    let train_sessions = (0..roles.len()).filter(|&s| roles[s] == Role::Train);
    rows.merge_train(more_cut_rows(
        &index,
        &split0,
        train_sessions,
        config,
        plan.cuts,
        0,
        options,
        progress,
    ));
    let Split { test, labels, .. } = split0;
    let last = LastPeriod {
        index,
        test,
        labels,
        roles,
        candidate_recall,
        candidates_per_session,
    };
    (last, rows)
}

impl LastPeriod {
    /// Held-out Recall@20 of the heuristic and of `rankers` on the held-out sessions,
    /// answered by the recommender `predict` and `serve` use.
    pub fn holdout_recall(self, rankers: Rankers, config: &TrainConfig) -> Result<HoldoutRecall> {
        let holdout: Vec<usize> = (0..self.roles.len())
            .filter(|&s| self.roles[s] == Role::Holdout)
            .collect();
        let recommender =
            Recommender::with_rankers(self.index, rankers, config.candidates, config.early_exit);
        let recall =
            |strategy| holdout_recall(&recommender, &self.test, &self.labels, &holdout, strategy);
        Ok(HoldoutRecall {
            heuristic: recall(Strategy::Heuristic)?,
            ranker: recall(Strategy::Ranker)?,
        })
    }
}

/// The periods before the last (`plan.folds - 1` of them, fewer when the log runs out):
/// the log as it was k periods ago, split the same way, indexed on its own earlier part;
/// their rows are added to `rows` (a tenth of each period's sessions validate, so early
/// stopping and the choice of objective see every period).
#[allow(clippy::too_many_arguments)]
pub(super) fn label_earlier_periods(
    log: &SessionLog,
    plan: &Plan,
    params: &IndexParams,
    config: &TrainConfig,
    options: &RowOptions<'_>,
    rows: &mut rows::Rows,
    progress: &dyn Progress,
) {
    let mut scorers = None;
    for fold in 1..plan.folds {
        let mut split = fold_split(log, plan, config, fold);
        if split.test.is_empty() {
            break;
        }
        if (fold - 1) % EARLIER_PERIODS_PER_FIT == 0 {
            scorers = Some(fit_scorers(log, plan, params, config, fold, progress));
        }
        let scorers = scorers
            .as_ref()
            .expect("fitted at the group's first period");
        let index = scorers.index(&mut split.train, params, progress);
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
            options,
            progress,
        );
        progress.finish();
        rows.merge_fold(more);
        let fold_train = (0..fold_roles.len()).filter(|&s| fold_roles[s] == Role::Train);
        rows.merge_train(more_cut_rows(
            &index, &split, fold_train, config, plan.cuts, fold, options, progress,
        ));
    }
}

/// Earlier periods (the one before the last is 1, …) that share one fit of the item vectors
/// and the next-item model: periods `1 + g·N ..= (g+1)·N`. The last period has its own fit
/// (it answers the held-out sessions, and its features should be what serving sees).
/// Diginetica, 12 periods (BENCHMARKS.md, "One fit of the vectors for the earlier
/// periods"): a fit per period 55.38 / 20.96 in 357 s; one for all 11 earlier periods
/// 55.32 / 20.96 in 110 s (the same run); one per 4, 55.39 / 21.04 in 156 s; one for all
/// 12 periods, the last included, 55.33 / 21.00 in 127 s (its ranker no longer stopped
/// early).
const EARLIER_PERIODS_PER_FIT: u32 = 11;

/// The log as it was `fold` periods before its end, split by the official rule.
fn fold_split(log: &SessionLog, plan: &Plan, config: &TrainConfig, fold: u32) -> Split {
    let Some(last) = log.last_timestamp() else {
        return Split::default();
    };
    let shift = fold as u64 * plan.days as u64 * DAY as u64 * 1000;
    let millis = last.as_millis().saturating_sub(shift) + 1;
    let cutoff = Timestamp {
        seconds: (millis / 1000) as u32,
        millis: (millis % 1000) as u16,
    };
    split(
        &log.before(cutoff),
        SplitConfig {
            days: plan.days,
            seed: config.seed.wrapping_add(fold as u64),
        },
    )
}

/// The scorers shared by the periods `first..first + EARLIER_PERIODS_PER_FIT`, fitted on
/// the events before the oldest of them that labels sessions: no period of the group has
/// its labels among them.
fn fit_scorers(
    log: &SessionLog,
    plan: &Plan,
    params: &IndexParams,
    config: &TrainConfig,
    first: u32,
    progress: &dyn Progress,
) -> FittedScorers {
    let oldest = (first + EARLIER_PERIODS_PER_FIT - 1).min(plan.folds - 1);
    let mut train = (first..=oldest)
        .rev()
        .map(|fold| fold_split(log, plan, config, fold))
        .find(|split| !split.test.is_empty())
        .map(|split| split.train)
        .unwrap_or_default();
    FittedScorers::fit(&mut train, params, progress)
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
    labels: &[SessionLabels],
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
