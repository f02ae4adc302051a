//! Early exit: a session's candidates scored on a model's first trees, and only the best
//! of them on the rest.

use super::TreeModel;
use super::quickscorer::QuickScorer;

/// Where an [`EarlyExit`] splits a model: its first `trees` trees and the rest, each in
/// QuickScorer's layout when the model fits it.
#[derive(Clone, Debug)]
pub(super) struct Stages {
    pub(super) trees: usize,
    pub(super) quick: Option<(QuickScorer, QuickScorer)>,
}

/// Early exit, a two-stage cascade over an additive ensemble: every candidate of a session
/// is scored on the model's first `trees` trees, and only its `keep` best on the rest.
/// The candidates that go on get exactly the full model's scores (the second stage adds
/// its leaves onto the first's sums, in tree order); the others are left out of the
/// ranking. With `keep` at least the number of items asked for, the answer differs from
/// full scoring only when a candidate outside the first stage's best `keep` would have
/// made the list (BENCHMARKS.md measures how often that costs a hit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EarlyExit {
    /// Trees of the first stage.
    pub trees: usize,
    /// Candidates per session scored on the remaining trees.
    pub keep: usize,
}

impl TreeModel {
    /// Splits the model after its first `trees` trees for
    /// [`score_groups`](Self::score_groups); a model with at most `trees` trees is not
    /// split, and scores every row on every tree.
    pub fn prepare_early_exit(&mut self, trees: usize) {
        let width = self.feature_names.len();
        self.stages = (trees > 0 && trees < self.trees.len()).then(|| {
            let quick = self.quick.as_ref().and_then(|_| {
                let head = QuickScorer::new(&self.trees[..trees], width)?;
                let tail = QuickScorer::new(&self.trees[trees..], width)?;
                Some((head, tail))
            });
            Box::new(Stages { trees, quick })
        });
    }

    /// Scores the rows of consecutive groups (a session's candidates each, `groups` their
    /// sizes) into `out`. With `early` and the stages
    /// [`prepare_early_exit`](Self::prepare_early_exit) laid out for its tree count, only
    /// the `keep` best rows of each group on the first trees are scored on the rest: they
    /// get [`score_rows`](Self::score_rows)' scores bit for bit, the others
    /// `f64::NEG_INFINITY`. Otherwise every row is scored as by `score_rows`.
    pub fn score_groups(
        &self,
        rows: &[f32],
        groups: &[usize],
        early: Option<EarlyExit>,
        out: &mut Vec<f64>,
    ) {
        let width = self.feature_names.len();
        debug_assert_eq!(groups.iter().sum::<usize>() * width, rows.len());
        let (keep, stages) = match (early, &self.stages) {
            (Some(e), Some(stages))
                if stages.trees == e.trees && groups.iter().any(|&n| n > e.keep) =>
            {
                (e.keep, stages)
            }
            _ => return self.score_rows(rows, out),
        };
        let quick = stages.quick.as_ref().filter(|_| QuickScorer::available());
        out.clear();
        out.resize(rows.len() / width, 0.0);
        match quick {
            Some((head, _)) => head.raw_scores_with(head.fastest(), rows, out),
            None => self.walk_add(&self.trees[..stages.trees], rows, out),
        }
        self.finish_early_exit(rows, groups, keep, stages, out);
    }

    /// The second stage of an early exit, `out` holding every row's raw sum on the first
    /// `stages.trees` trees: each group's `keep` best rows get the full model's scores, the
    /// others `f64::NEG_INFINITY`.
    pub(super) fn finish_early_exit(
        &self,
        rows: &[f32],
        groups: &[usize],
        keep: usize,
        stages: &Stages,
        out: &mut [f64],
    ) {
        let width = self.feature_names.len();
        let quick = stages.quick.as_ref().filter(|_| QuickScorer::available());
        // Each group's best `keep` on the first stage (ties: the earlier row), in row order.
        let mut chosen = Vec::with_capacity(groups.len() * keep);
        let mut first = 0;
        for &n in groups {
            let group = first..first + n;
            if n <= keep {
                chosen.extend(group);
            } else {
                let mut order: Vec<usize> = group.collect();
                let by_score = |&a: &usize, &b: &usize| out[b].total_cmp(&out[a]).then(a.cmp(&b));
                order.select_nth_unstable_by(keep - 1, by_score);
                order.truncate(keep);
                order.sort_unstable();
                chosen.extend(order);
            }
            first += n;
        }
        let mut picked = Vec::with_capacity(chosen.len() * width);
        let mut sums = Vec::with_capacity(chosen.len());
        for &i in &chosen {
            picked.extend_from_slice(&rows[i * width..][..width]);
            sums.push(out[i]);
        }
        match quick {
            Some((_, tail)) => tail.raw_scores_with(tail.fastest(), &picked, &mut sums),
            None => self.walk_add(&self.trees[stages.trees..], &picked, &mut sums),
        }
        out.fill(f64::NEG_INFINITY);
        for (&i, &sum) in chosen.iter().zip(&sums) {
            out[i] = self.transform(sum);
        }
    }
}
