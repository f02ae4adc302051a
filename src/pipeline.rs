//! The recommendation pipeline shared by `predict` and `serve`: a session and an objective
//! in, items with scores out. Loaded once, then pure: no I/O on the request path.

use std::time::{Duration, Instant};

use crate::data::{EventType, Session};
use crate::heuristic::{self, Recommendation};
use crate::index::Index;

/// Time spent per stage of one recommendation.
#[derive(Clone, Copy, Debug, Default)]
pub struct StageTimings {
    pub candidates: Duration,
    pub features: Duration,
    pub scoring: Duration,
}

/// Largest `k` a caller may ask for.
pub const MAX_K: usize = 100;

/// How a list is ranked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// The baseline re-rank of design.md §3.
    Heuristic,
}

/// Everything needed to recommend, held in RAM.
#[derive(Debug)]
pub struct Recommender {
    index: Index,
}

impl Recommender {
    /// A recommender over a loaded index.
    pub fn new(index: Index) -> Self {
        Recommender { index }
    }

    /// The index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The strategy used when the caller does not force the heuristic.
    pub fn default_strategy(&self) -> Strategy {
        Strategy::Heuristic
    }

    /// The top `k` items for `objective`, best first, with scores; no duplicates. An empty
    /// session gets popular items.
    pub fn recommend(
        &self,
        session: Session<'_>,
        objective: EventType,
        k: usize,
        strategy: Strategy,
    ) -> Recommendation {
        let k = k.min(MAX_K);
        match strategy {
            Strategy::Heuristic => heuristic::recommend(&self.index, session, objective, k),
        }
    }

    /// Like [`recommend`](Self::recommend) for the given default strategy, with the time
    /// spent in each stage (for request logs).
    pub fn recommend_timed(
        &self,
        session: Session<'_>,
        objective: EventType,
        k: usize,
    ) -> (Recommendation, StageTimings) {
        let started = Instant::now();
        let rec = self.recommend(session, objective, k, self.default_strategy());
        let timings = StageTimings {
            candidates: started.elapsed(),
            ..Default::default()
        };
        (rec, timings)
    }

    /// The lists for all three objectives (indexed by [`EventType::index`]).
    pub fn recommend_all(
        &self,
        session: Session<'_>,
        k: usize,
        strategy: Strategy,
    ) -> [Recommendation; 3] {
        match strategy {
            Strategy::Heuristic => {
                // The baseline has one list for carts and orders.
                let clicks = self.recommend(session, EventType::Click, k, strategy);
                let buys = self.recommend(session, EventType::Order, k, strategy);
                [clicks, buys.clone(), buys]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SessionLog;
    use crate::index::{IndexParams, build};
    use crate::rng::Rng;
    use crate::synthetic::{WorldConfig, generate};

    fn world() -> (Recommender, SessionLog) {
        let world = generate(WorldConfig {
            sessions: 3_000,
            items: 1_000,
            seed: 8,
        })
        .unwrap();
        let index = build(&world.train, &IndexParams::default(), &|_, _| {
            indicatif::ProgressBar::hidden()
        });
        (Recommender::new(index), world.test)
    }

    #[test]
    fn lists_hold_at_most_k_distinct_items_with_non_increasing_scores() {
        let (recommender, test) = world();
        let mut rng = Rng::new(1);
        for session in test.iter().take(500) {
            let k = 1 + rng.below(MAX_K as u64 + 20) as usize;
            for kind in EventType::ALL {
                let rec = recommender.recommend(session, kind, k, Strategy::Heuristic);
                assert!(rec.len() <= k.min(MAX_K), "{} > {k}", rec.len());
                assert_eq!(rec.aids.len(), rec.scores.len());
                let mut seen = rec.aids.clone();
                seen.sort_unstable();
                seen.dedup();
                assert_eq!(seen.len(), rec.len(), "duplicates in {:?}", rec.aids);
                assert!(
                    rec.scores.windows(2).all(|w| w[0] >= w[1]),
                    "{:?}",
                    rec.scores
                );
                assert_eq!(
                    rec,
                    recommender.recommend(session, kind, k, Strategy::Heuristic)
                );
            }
        }
    }

    #[test]
    fn twenty_items_for_every_session_of_a_generated_world() {
        let (recommender, test) = world();
        for session in test.iter() {
            let lists = recommender.recommend_all(session, 20, Strategy::Heuristic);
            assert!(lists.iter().all(|l| l.len() == 20));
        }
    }
}
