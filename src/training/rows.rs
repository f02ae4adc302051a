//! Training rows: candidates and feature rows of labelled (truncated) sessions, one set
//! per objective, built in bounded blocks with negative sampling; and the figures a
//! training run reports (candidate recall, Recall@20 of a strategy on held-out sessions).
//!
//! For each objective a session with no positive candidate carries no signal and is left
//! out; of the others every positive row is kept and each negative with probability
//! `negative_rate` (a seeded hash of session, aid and objective decides, so the same
//! configuration keeps the same rows). Validation rows are never sampled: early stopping
//! and the choice of objective see the full ranking task.

use rayon::prelude::*;

use crate::candidates::{CandidateConfig, SessionContext, candidates};
use crate::domain::{EventType, SessionLabels, SessionLog};
use crate::features::{NUM_FEATURES, SessionFeatures, write_row};
use crate::index::Index;
use crate::metric::{CUTOFF, Recall, RecallCounter};
use crate::pipeline::{Recommender, Strategy};
use crate::progress::Progress;
use crate::rng::Rng;

/// What a labelled session is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Rows to fit on (negatives sampled).
    Train,
    /// Rows for early stopping and the choice of objective (all negatives).
    Valid,
    /// Not turned into rows: scored end to end for the report.
    Holdout,
}

/// The rows of some sessions for one objective.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Row-major, [`NUM_FEATURES`] per row.
    pub rows: Vec<f32>,
    pub labels: Vec<f32>,
    /// Rows per session, in order.
    pub groups: Vec<i32>,
}

impl Selection {
    /// Rows labelled 1.
    pub fn positives(&self) -> usize {
        self.labels.iter().filter(|&&l| l > 0.0).count()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn append(&mut self, other: Selection) {
        self.rows.extend_from_slice(&other.rows);
        self.labels.extend_from_slice(&other.labels);
        self.groups.extend_from_slice(&other.groups);
    }
}

/// Training and validation rows of one objective.
#[derive(Clone, Debug, Default)]
pub struct ObjectiveRows {
    pub train: Selection,
    pub valid: Selection,
    /// Σ min(20, |truth|) over the validation sessions (with or without a positive
    /// candidate): the denominator of the validation Recall@20.
    pub valid_truth: u64,
}

/// Everything [`build`] makes.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    /// Indexed by [`EventType::index`].
    pub objectives: [ObjectiveRows; 3],
    /// Share of truth items among the candidates, over all sessions given.
    pub candidate_recall: RecallCounter,
    /// Candidates generated, over all sessions given.
    pub candidates: u64,
    pub sessions: u64,
}

impl Rows {
    /// Validation sessions with candidate rows (the most over the objectives).
    pub fn valid_sessions(&self) -> usize {
        self.objectives
            .iter()
            .map(|o| o.valid.groups.len())
            .max()
            .unwrap_or(0)
    }

    /// Adds the training rows of another fold (its validation rows are not used).
    pub fn merge_train(&mut self, other: Rows) {
        for (mine, theirs) in self.objectives.iter_mut().zip(other.objectives) {
            mine.train.append(theirs.train);
        }
    }

    /// Adds the training and validation rows of another fold (its candidate counts are
    /// not: they describe the last period).
    pub fn merge_fold(&mut self, other: Rows) {
        for (mine, theirs) in self.objectives.iter_mut().zip(other.objectives) {
            mine.train.append(theirs.train);
            mine.valid.append(theirs.valid);
            mine.valid_truth += theirs.valid_truth;
        }
    }

    fn merge(&mut self, other: Rows) {
        self.candidate_recall.merge(&other.candidate_recall);
        self.candidates += other.candidates;
        self.sessions += other.sessions;
        self.merge_fold(other);
    }
}

/// How rows are built.
#[derive(Clone, Debug)]
pub struct RowOptions<'a> {
    pub candidates: &'a CandidateConfig,
    /// Share of negative training rows kept (1: all).
    pub negative_rate: f64,
    pub seed: u64,
}

/// A deterministic draw in [0, 1) for a (session, aid, objective).
fn draw(seed: u64, session: u32, aid: u32, objective: EventType) -> f64 {
    let key = ((session as u64) << 32 | aid as u64) ^ ((objective as u64) << 62);
    Rng::for_stream(seed, key).next_f64()
}

/// Sessions per block: rows of one block are built in parallel, then appended, so peak
/// memory is the kept rows plus one block's.
const BLOCK: usize = 16_384;

/// Builds the rows of `sessions` (truncated) with their `labels` and `roles` (same order).
pub fn build(
    index: &Index,
    sessions: &SessionLog,
    labels: &[SessionLabels],
    roles: &[Role],
    options: &RowOptions<'_>,
    progress: &dyn Progress,
) -> Rows {
    assert_eq!(sessions.len(), labels.len());
    assert_eq!(sessions.len(), roles.len());
    let mut out = Rows::default();
    let all: Vec<usize> = (0..sessions.len()).collect();
    for block in all.chunks(BLOCK) {
        let parts: Vec<Rows> = block
            .par_chunks(1024)
            .map(|chunk| {
                let mut part = Rows::default();
                let mut row = Vec::with_capacity(NUM_FEATURES);
                for &s in chunk {
                    session_rows(
                        index, sessions, labels, roles, options, s, &mut row, &mut part,
                    );
                }
                progress.advance(chunk.len() as u64);
                part
            })
            .collect();
        for part in parts {
            out.merge(part);
        }
    }
    out
}

/// Adds the rows of session `s` to `out`.
#[allow(clippy::too_many_arguments)]
fn session_rows(
    index: &Index,
    sessions: &SessionLog,
    labels: &[SessionLabels],
    roles: &[Role],
    options: &RowOptions<'_>,
    s: usize,
    row: &mut Vec<f32>,
    out: &mut Rows,
) {
    let session = sessions.session(s);
    let ctx = SessionContext::new(index, session, options.candidates);
    let cands = candidates(&ctx, options.candidates);
    out.sessions += 1;
    out.candidates += cands.len() as u64;
    let truth = &labels[s];
    let mut hit = [Vec::new(), Vec::new(), Vec::new()];
    for objective in EventType::ALL {
        let t = truth.truth(objective);
        hit[objective.index()] = cands.iter().map(|c| t.contains(&c.aid)).collect();
        let found = hit[objective.index()].iter().filter(|&&h| h).count();
        out.candidate_recall.add_counts(objective, found, t.len());
    }
    let role = roles[s];
    if role == Role::Holdout {
        return;
    }
    for objective in EventType::ALL {
        if role == Role::Valid {
            out.objectives[objective.index()].valid_truth +=
                truth.truth(objective).len().min(CUTOFF) as u64;
        }
    }
    let wanted: Vec<EventType> = EventType::ALL
        .into_iter()
        .filter(|o| hit[o.index()].iter().any(|&h| h))
        .collect();
    if wanted.is_empty() {
        return;
    }
    let features = SessionFeatures::new(&ctx);
    let mut counts = [0i32; 3];
    for (c, candidate) in cands.iter().enumerate() {
        let keep: Vec<EventType> = wanted
            .iter()
            .copied()
            .filter(|&o| {
                role == Role::Valid
                    || hit[o.index()][c]
                    || options.negative_rate >= 1.0
                    || draw(options.seed, session.id, candidate.aid, o) < options.negative_rate
            })
            .collect();
        if keep.is_empty() {
            continue;
        }
        row.clear();
        write_row(index, &ctx, &features, candidate, row);
        for o in keep {
            let rows = &mut out.objectives[o.index()];
            let selection = if role == Role::Valid {
                &mut rows.valid
            } else {
                &mut rows.train
            };
            selection.rows.extend_from_slice(row);
            selection.labels.push(hit[o.index()][c] as u8 as f32);
            counts[o.index()] += 1;
        }
    }
    for o in wanted {
        let rows = &mut out.objectives[o.index()];
        let selection = if role == Role::Valid {
            &mut rows.valid
        } else {
            &mut rows.train
        };
        selection.groups.push(counts[o.index()]);
    }
}

/// Recall@20 of a model's ranking of validation rows: per session (group), the 20 best
/// rows by score (ties in candidate order), hits over `truth` (all validation sessions'
/// capped truth sizes).
pub fn ranked_recall(selection: &Selection, scores: &[f64], truth: u64) -> f64 {
    let mut hits = 0u64;
    let mut start = 0usize;
    let mut order: Vec<usize> = Vec::new();
    for &g in &selection.groups {
        let end = start + g as usize;
        order.clear();
        order.extend(start..end);
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        hits += order
            .iter()
            .take(CUTOFF)
            .filter(|&&i| selection.labels[i] > 0.0)
            .count() as u64;
        start = end;
    }
    if truth == 0 {
        0.0
    } else {
        hits as f64 / truth as f64
    }
}

/// Recall@20 of `recommender` with `strategy` on `sessions` of a labelled log.
pub fn holdout_recall(
    recommender: &Recommender,
    log: &SessionLog,
    labels: &[SessionLabels],
    sessions: &[usize],
    strategy: Strategy,
) -> crate::Result<Recall> {
    let counters: Vec<RecallCounter> = sessions
        .par_chunks(1024)
        .map(|chunk| {
            let mut counter = RecallCounter::default();
            for &s in chunk {
                let lists = recommender.recommend_all(log.session(s), CUTOFF, strategy)?;
                for kind in EventType::ALL {
                    counter.add(&labels[s], kind, Some(&lists[kind.index()].aids));
                }
            }
            Ok(counter)
        })
        .collect::<crate::Result<_>>()?;
    let mut total = RecallCounter::default();
    for c in counters {
        total.merge(&c);
    }
    Ok(total.recall())
}

/// The role of each of `n` sessions: about 70 % train, 10 % validation, 20 % held out,
/// seeded; validation sessions beyond `max_valid` train instead (validation rows keep
/// every negative, so at scale they would outgrow the sampled training rows).
pub fn assign_roles(n: usize, seed: u64, max_valid: usize) -> Vec<Role> {
    assign_roles_with(n, seed, max_valid, true)
}

/// The roles of an earlier fold's sessions: like [`assign_roles`], with no session held
/// out (the held-out measure is the last period's): 90 % train, 10 % validate while
/// `max_valid` allows.
pub fn assign_earlier_roles(n: usize, seed: u64, max_valid: usize) -> Vec<Role> {
    assign_roles_with(n, seed, max_valid, false)
}

fn assign_roles_with(n: usize, seed: u64, max_valid: usize, holdout: bool) -> Vec<Role> {
    let mut rng = Rng::new(seed ^ 0x5EED);
    let mut valid = 0;
    (0..n)
        .map(|_| match rng.below(10) {
            0..=6 => Role::Train,
            7 if valid < max_valid => {
                valid += 1;
                Role::Valid
            }
            7 => Role::Train,
            _ if holdout => Role::Holdout,
            _ => Role::Train,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranked_recall_counts_hits_in_each_groups_top_twenty() {
        let selection = Selection {
            rows: Vec::new(),
            // Session 1: 3 rows, the positive scored second; session 2: 22 rows, the
            // positive scored last (21st of 22 after the two above it... out of the top 20).
            labels: [vec![0.0, 1.0, 0.0], {
                let mut l = vec![0.0; 22];
                l[21] = 1.0;
                l
            }]
            .concat(),
            groups: vec![3, 22],
        };
        let mut scores = vec![0.9, 0.5, 0.1];
        scores.extend((0..22).map(|i| 1.0 - i as f64 / 100.0));
        assert_eq!(ranked_recall(&selection, &scores, 4), 0.25);
    }

    #[test]
    fn roles_are_seeded_and_about_seventy_ten_twenty() {
        let roles = assign_roles(10_000, 7, usize::MAX);
        assert_eq!(roles, assign_roles(10_000, 7, usize::MAX));
        let capped = assign_roles(10_000, 7, 300);
        assert_eq!(capped.iter().filter(|&&r| r == Role::Valid).count(), 300);
        let held = |roles: &[Role]| roles.iter().filter(|&&r| r == Role::Holdout).count();
        assert_eq!(
            held(&capped),
            held(&roles),
            "the held-out sessions stay the same"
        );
        let share = |r: Role| roles.iter().filter(|&&x| x == r).count() as f64 / 1e4;
        assert!((share(Role::Train) - 0.7).abs() < 0.02);
        assert!((share(Role::Valid) - 0.1).abs() < 0.02);
    }
}
