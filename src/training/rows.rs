//! Training rows: candidates and feature rows of labelled (truncated) sessions with a label
//! per objective, and the figures a training run reports (candidate recall, Recall@20 of
//! a strategy on held-out sessions).

use rayon::prelude::*;

use crate::candidates::{CandidateConfig, SessionContext, candidates};
use crate::domain::{EventType, SessionLabels, SessionLog};
use crate::features::{NUM_FEATURES, SessionFeatures, write_row};
use crate::index::Index;
use crate::metric::{Recall, RecallCounter};
use crate::pipeline::{Recommender, Strategy};
use crate::progress::Progress;
use crate::rng::Rng;

/// Feature rows of every candidate of every session, with labels.
#[derive(Clone, Debug)]
pub struct TrainingSet {
    /// Row-major, [`NUM_FEATURES`] per row.
    pub rows: Vec<f32>,
    /// `offsets[s]..offsets[s + 1]` are session `s`'s rows.
    pub offsets: Vec<usize>,
    /// 0/1 per row and objective.
    pub labels: [Vec<f32>; 3],
}

impl Default for TrainingSet {
    /// No sessions.
    fn default() -> Self {
        TrainingSet {
            rows: Vec::new(),
            offsets: vec![0],
            labels: Default::default(),
        }
    }
}

impl TrainingSet {
    /// Number of sessions.
    pub fn sessions(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Rows, labels and group sizes (rows per session) of those of `sessions` that have a
    /// positive candidate for `objective`: the others carry no signal.
    pub fn select(&self, sessions: &[usize], objective: EventType) -> Selection {
        let labels = &self.labels[objective.index()];
        let mut out = Selection::default();
        for &s in sessions {
            let range = self.offsets[s]..self.offsets[s + 1];
            if !labels[range.clone()].iter().any(|&l| l > 0.0) {
                continue;
            }
            out.rows.extend_from_slice(
                &self.rows[range.start * NUM_FEATURES..range.end * NUM_FEATURES],
            );
            out.labels.extend_from_slice(&labels[range.clone()]);
            out.groups.push(range.len() as i32);
        }
        out
    }
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
}

/// Builds the training set of `sessions` (truncated) with their `labels` (same order).
pub fn build(
    index: &Index,
    sessions: &SessionLog,
    labels: &[SessionLabels],
    config: &CandidateConfig,
    progress: &dyn Progress,
) -> TrainingSet {
    assert_eq!(sessions.len(), labels.len());
    const CHUNK: usize = 2048;
    let parts: Vec<TrainingSet> = (0..sessions.len())
        .collect::<Vec<_>>()
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut part = TrainingSet::default();
            for &s in chunk {
                let ctx = SessionContext::new(index, sessions.session(s), config);
                let cands = candidates(&ctx, index, config);
                let session_features = SessionFeatures::new(&ctx);
                for c in &cands {
                    write_row(index, &ctx, &session_features, c, &mut part.rows);
                    for kind in EventType::ALL {
                        part.labels[kind.index()]
                            .push(labels[s].truth(kind).contains(&c.aid) as u8 as f32);
                    }
                }
                part.offsets
                    .push(part.offsets.last().expect("offsets") + cands.len());
            }
            progress.advance(chunk.len() as u64);
            part
        })
        .collect();
    let mut set = TrainingSet::default();
    for part in parts {
        let base = *set.offsets.last().expect("offsets");
        set.rows.extend_from_slice(&part.rows);
        set.offsets
            .extend(part.offsets[1..].iter().map(|o| o + base));
        for (all, some) in set.labels.iter_mut().zip(part.labels) {
            all.extend(some);
        }
    }
    set
}

/// Share of truth items found among the candidates, per objective (capped at 20 as in
/// the metric).
pub fn candidate_recall(set: &TrainingSet, labels: &[SessionLabels], sessions: &[usize]) -> Recall {
    let mut counter = RecallCounter::default();
    for &s in sessions {
        for kind in EventType::ALL {
            let rows = &set.labels[kind.index()][set.offsets[s]..set.offsets[s + 1]];
            let found = rows.iter().filter(|&&l| l > 0.0).count();
            counter.add_counts(kind, found, labels[s].truth(kind).len());
        }
    }
    counter.recall()
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
                let lists = recommender.recommend_all(log.session(s), 20, strategy)?;
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

/// Which part a session belongs to: 0 train, 1 early-stopping validation, 2 held out for
/// the report; about 70/10/20, seeded.
pub fn assign_parts(n: usize, seed: u64) -> [Vec<usize>; 3] {
    let mut rng = Rng::new(seed ^ 0x5EED);
    let mut parts: [Vec<usize>; 3] = Default::default();
    for s in 0..n {
        let r = rng.below(10);
        parts[if r < 7 {
            0
        } else if r < 8 {
            1
        } else {
            2
        }]
        .push(s);
    }
    parts
}
