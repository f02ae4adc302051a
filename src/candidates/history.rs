//! The history source: the session's own distinct aids, best first by their recency- and
//! type-weighted score. Its features are the session × item family (`features`).

use super::registry::Retrieval;
use super::{CandidateConfig, Seen};

/// The session's most recent distinct aids, best first.
#[derive(Clone, Debug, Default)]
pub struct History {
    best: Vec<u32>,
}

impl History {
    /// The `config.history` best of the session's distinct aids by weighted score (ties:
    /// the more recent first).
    pub(super) fn find(seen: &Seen<'_>, config: &CandidateConfig) -> Self {
        let mut history: Vec<(u32, f32)> = seen
            .unique
            .iter()
            .map(|&a| (a, seen.interactions[&a].weighted))
            .collect();
        history.sort_by(|a, b| b.1.total_cmp(&a.1));
        History {
            best: history
                .into_iter()
                .take(config.history)
                .map(|(aid, _)| aid)
                .collect(),
        }
    }
}

impl Retrieval for History {
    const RANKS: &'static [&'static str] = &["rank_history"];
    const FEATURES: &'static [&'static str] = &[];

    fn offer(&self, _: &CandidateConfig, offer: &mut impl FnMut(usize, usize, u32)) {
        for (rank, &aid) in self.best.iter().enumerate() {
            offer(0, rank, aid);
        }
    }

    fn write_features(&self, _: u32, _: &mut Vec<f32>) {}
}
