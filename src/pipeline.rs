//! The recommendation pipeline shared by `predict` and `serve`: a session and an objective
//! in, items with scores out. Loaded once, then pure: no I/O on the request path.

use std::time::{Duration, Instant};

use crate::candidates::{Candidate, CandidateConfig, SessionContext, candidates};
use crate::domain::{EventType, Recommendation, Session, best_first};
use crate::error::{Error, Result};
use crate::features::{SessionFeatures, write_rows};
use crate::heuristic;
use crate::index::{Index, ItemIds, Localized};
use crate::ranker::{EarlyExit, Rankers, TreeModel};

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
    /// The baseline re-rank ([`crate::heuristic`]).
    Heuristic,
    /// Candidates, features and one LightGBM model per objective.
    Ranker,
}

impl Strategy {
    /// Name for logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Heuristic => "heuristic",
            Strategy::Ranker => "ranker",
        }
    }
}

/// Everything needed to recommend, held in RAM.
#[derive(Debug)]
pub struct Recommender {
    index: Index,
    rankers: Option<Rankers>,
    candidates: CandidateConfig,
    early_exit: Option<EarlyExit>,
}

impl Recommender {
    /// A recommender over a loaded index, ranking with the heuristic.
    pub fn new(index: Index) -> Self {
        Recommender {
            index,
            rankers: None,
            candidates: CandidateConfig::default(),
            early_exit: None,
        }
    }

    /// A recommender that ranks with `rankers` over candidates drawn by `candidates`,
    /// scoring them all on every tree, or with `early_exit` only the best of the first
    /// trees on the rest.
    pub fn with_rankers(
        index: Index,
        mut rankers: Rankers,
        candidates: CandidateConfig,
        early_exit: Option<EarlyExit>,
    ) -> Self {
        if let Some(e) = early_exit {
            rankers.prepare_early_exit(e.trees);
        }
        Recommender {
            index,
            rankers: Some(rankers),
            candidates,
            early_exit,
        }
    }

    /// The early exit for lists of `k` items: every item of a list must have its full score.
    fn early_exit(&self, k: usize) -> Option<EarlyExit> {
        self.early_exit.map(|e| EarlyExit {
            keep: e.keep.max(k),
            ..e
        })
    }

    /// True when rankers are loaded.
    pub fn has_rankers(&self) -> bool {
        self.rankers.is_some()
    }

    /// The objectives `strategy` ranks with a model (the others get the heuristic's lists).
    pub fn ranked_objectives(&self, strategy: Strategy) -> Vec<EventType> {
        match (strategy, &self.rankers) {
            (Strategy::Ranker, Some(rankers)) => rankers.objectives(),
            _ => Vec::new(),
        }
    }

    /// How `strategy` ranks each objective, for reports: `ranker: clicks; heuristic: carts,
    /// orders`.
    pub fn describe(&self, strategy: Strategy) -> String {
        let ranked = self.ranked_objectives(strategy);
        let names = |rank: bool| {
            EventType::ALL
                .into_iter()
                .filter(|o| ranked.contains(o) == rank)
                .map(EventType::name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match ranked.len() {
            0 => format!("{}: {}", Strategy::Heuristic.name(), names(false)),
            3 => format!("{}: {}", Strategy::Ranker.name(), names(true)),
            _ => format!(
                "{}: {}; {}: {}",
                Strategy::Ranker.name(),
                names(true),
                Strategy::Heuristic.name(),
                names(false)
            ),
        }
    }

    /// The index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The strategy used when the caller does not force the heuristic.
    pub fn default_strategy(&self) -> Strategy {
        if self.rankers.is_some() {
            Strategy::Ranker
        } else {
            Strategy::Heuristic
        }
    }

    /// The top `k` items for `objective`, best first, with scores; no duplicates. An empty
    /// session gets popular items. [`Strategy::Ranker`] without rankers is an error.
    pub fn recommend(
        &self,
        session: Session<'_>,
        objective: EventType,
        k: usize,
        strategy: Strategy,
    ) -> Result<Recommendation> {
        let rankers = self.rankers_for(strategy)?;
        Ok(self.recommend_timed_with(session, objective, k, rankers).0)
    }

    /// Like [`recommend`](Self::recommend) with the default strategy, with the time spent in
    /// each stage (for request logs).
    pub fn recommend_timed(
        &self,
        session: Session<'_>,
        objective: EventType,
        k: usize,
    ) -> (Recommendation, StageTimings) {
        self.recommend_timed_with(session, objective, k, self.rankers.as_ref())
    }

    /// [`recommend_with`](Self::recommend_with) on the session's aids as the index's
    /// positions, the answer in aids.
    fn recommend_timed_with(
        &self,
        session: Session<'_>,
        objective: EventType,
        k: usize,
        rankers: Option<&Rankers>,
    ) -> (Recommendation, StageTimings) {
        let local = self.index.ids.localize(session.aids);
        let (mut rec, timings) =
            self.recommend_with(local_view(session, &local), objective, k, rankers);
        restore(&self.index.ids, &local, &mut rec);
        (rec, timings)
    }

    /// The rankers a strategy uses: none for the heuristic, the loaded ones for the ranker.
    fn rankers_for(&self, strategy: Strategy) -> Result<Option<&Rankers>> {
        match strategy {
            Strategy::Heuristic => Ok(None),
            Strategy::Ranker => self.rankers.as_ref().map(Some).ok_or(Error::NoRankers),
        }
    }

    fn recommend_with(
        &self,
        session: Session<'_>,
        objective: EventType,
        k: usize,
        rankers: Option<&Rankers>,
    ) -> (Recommendation, StageTimings) {
        let k = k.min(MAX_K);
        let mut timings = StageTimings::default();
        let rec = match rankers.and_then(|r| r.model(objective)) {
            Some(model) => self.rank(session, objective, model, k, &mut timings),
            None => {
                let started = Instant::now();
                let rec = heuristic::recommend(&self.index, session, objective, k);
                timings.candidates = started.elapsed();
                rec
            }
        };
        (rec, timings)
    }

    /// Ranks the candidates of `session` for `objective` with its model.
    fn rank(
        &self,
        session: Session<'_>,
        objective: EventType,
        model: &TreeModel,
        k: usize,
        timings: &mut StageTimings,
    ) -> Recommendation {
        let started = Instant::now();
        let mut rows = Vec::new();
        let cands = self.candidate_rows(session, &mut rows, timings);
        let scoring_started = Instant::now();
        timings.features = scoring_started - started - timings.candidates;
        let mut scores = Vec::with_capacity(cands.len());
        model.score_groups(&rows, &[cands.len()], self.early_exit(k), &mut scores);
        let list = self.ranked(&cands, &scores, objective, k, model.score_floor());
        timings.scoring = scoring_started.elapsed();
        list
    }

    /// The candidates of `session`, with their feature rows appended to `rows`.
    fn candidate_rows(
        &self,
        session: Session<'_>,
        rows: &mut Vec<f32>,
        timings: &mut StageTimings,
    ) -> Vec<Candidate> {
        let started = Instant::now();
        let ctx = SessionContext::new(&self.index, session, &self.candidates);
        let cands = candidates(&ctx, &self.candidates);
        timings.candidates = started.elapsed();
        let session_features = SessionFeatures::new(&ctx);
        write_rows(&self.index, &ctx, &session_features, &cands, rows);
        cands
    }

    /// The top `k` of scored candidates, filled up with popular items scored `floor`.
    fn ranked(
        &self,
        cands: &[Candidate],
        scores: &[f64],
        objective: EventType,
        k: usize,
        floor: f32,
    ) -> Recommendation {
        // Equal scores keep candidate order.
        let best = best_first(scores.iter().map(|&s| s as f32), k);
        let mut rec = Recommendation {
            aids: best.iter().map(|&i| cands[i as usize].aid).collect(),
            scores: best.iter().map(|&i| scores[i as usize] as f32).collect(),
        };
        // Too few candidates (e.g. only unknown aids): fill with popular items, scored
        // below anything the model can give.
        for &aid in self.index.popular.fallback(objective) {
            if rec.aids.len() >= k {
                break;
            }
            if !rec.aids.contains(&aid) {
                rec.push(aid, floor);
            }
        }
        rec
    }

    /// [`recommend_all`](Self::recommend_all) for many sessions at once: with rankers, the
    /// candidate rows of all of them are scored together, so the evaluator works on full
    /// blocks. The lists equal `recommend_all`'s, session by session.
    pub fn recommend_all_batch<'s>(
        &self,
        sessions: &[Session<'s>],
        k: usize,
        strategy: Strategy,
    ) -> Result<Vec<[Recommendation; 3]>> {
        let k = k.min(MAX_K);
        let Some(rankers) = self.rankers_for(strategy)? else {
            return sessions
                .iter()
                .map(|&s| self.recommend_all(s, k, strategy))
                .collect();
        };
        let locals: Vec<Option<Localized>> = sessions
            .iter()
            .map(|s| self.index.ids.localize(s.aids))
            .collect();
        let local_sessions: Vec<Session<'_>> = sessions
            .iter()
            .zip(&locals)
            .map(|(&s, local)| local_view(s, local))
            .collect();
        let mut lists = self.rank_all_batch(&local_sessions, k, rankers);
        for (local, list) in locals.iter().zip(&mut lists) {
            for rec in list {
                restore(&self.index.ids, local, rec);
            }
        }
        Ok(lists)
    }

    /// [`recommend_all_batch`](Self::recommend_all_batch) on sessions of positions.
    fn rank_all_batch(
        &self,
        sessions: &[Session<'_>],
        k: usize,
        rankers: &Rankers,
    ) -> Vec<[Recommendation; 3]> {
        let models = rankers.objectives();
        let mut lists: Vec<[Recommendation; 3]> = sessions
            .iter()
            .map(|&s| self.heuristic_lists(s, k, rankers))
            .collect();
        if models.is_empty() {
            return lists;
        }
        let mut rows = Vec::new();
        let mut timings = StageTimings::default();
        let cands: Vec<Vec<Candidate>> = sessions
            .iter()
            .map(|&s| self.candidate_rows(s, &mut rows, &mut timings))
            .collect();
        let mut scores: [Vec<f64>; 3] = Default::default();
        let groups: Vec<usize> = cands.iter().map(Vec::len).collect();
        rankers.score_groups(&rows, &groups, self.early_exit(k), &mut scores);
        for objective in models {
            let model = rankers.model(objective).expect("an objective with a model");
            let (floor, scores) = (model.score_floor(), &scores[objective.index()]);
            let mut at = 0;
            for (c, list) in cands.iter().zip(&mut lists) {
                list[objective.index()] =
                    self.ranked(c, &scores[at..at + c.len()], objective, k, floor);
                at += c.len();
            }
        }
        lists
    }

    /// The lists for all three objectives (indexed by [`EventType::index`]).
    /// [`Strategy::Ranker`] without rankers is an error.
    pub fn recommend_all(
        &self,
        session: Session<'_>,
        k: usize,
        strategy: Strategy,
    ) -> Result<[Recommendation; 3]> {
        let k = k.min(MAX_K);
        let rankers = self.rankers_for(strategy)?;
        let local = self.index.ids.localize(session.aids);
        let mut lists = self.rank_all(local_view(session, &local), k, rankers);
        for rec in &mut lists {
            restore(&self.index.ids, &local, rec);
        }
        Ok(lists)
    }

    /// [`recommend_all`](Self::recommend_all) on a session of positions.
    fn rank_all(
        &self,
        session: Session<'_>,
        k: usize,
        rankers: Option<&Rankers>,
    ) -> [Recommendation; 3] {
        let Some(rankers) = rankers else {
            // The baseline has one list for carts and orders.
            let clicks = heuristic::recommend(&self.index, session, EventType::Click, k);
            let buys = heuristic::recommend(&self.index, session, EventType::Order, k);
            return [clicks, buys.clone(), buys];
        };
        self.rank_all_batch(&[session], k, rankers)
            .pop()
            .expect("one session's lists")
    }

    /// The heuristic's lists for the objectives that `rankers` has no model for (empty
    /// lists for the others, which the caller ranks).
    fn heuristic_lists(
        &self,
        session: Session<'_>,
        k: usize,
        rankers: &Rankers,
    ) -> [Recommendation; 3] {
        EventType::ALL.map(|o| match rankers.model(o) {
            Some(_) => Recommendation::default(),
            None => heuristic::recommend(&self.index, session, o, k),
        })
    }
}

/// `session` with the aids of `local`, when its aids had to be localized.
fn local_view<'a>(session: Session<'a>, local: &'a Option<Localized>) -> Session<'a> {
    match local {
        Some(l) => Session {
            aids: &l.aids,
            ..session
        },
        None => session,
    }
}

/// A recommendation of positions back in aids.
fn restore(ids: &ItemIds, local: &Option<Localized>, rec: &mut Recommendation) {
    if let Some(l) = local {
        l.restore(ids, &mut rec.aids);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SessionLog;
    use crate::index::{IndexParams, build};
    use crate::progress::Silent;
    use crate::rng::Rng;
    use crate::synthetic::{WorldConfig, generate};

    fn world() -> (Recommender, SessionLog) {
        let world = generate(WorldConfig {
            sessions: 3_000,
            items: 1_000,
            seed: 8,
        })
        .unwrap();
        let mut world = world;
        let index = build(&mut world.train, &IndexParams::default(), &Silent);
        (Recommender::new(index), world.test)
    }

    #[test]
    fn lists_hold_at_most_k_distinct_items_with_non_increasing_scores() {
        let (recommender, test) = world();
        let mut rng = Rng::new(1);
        for session in test.iter().take(500) {
            let k = 1 + rng.below(MAX_K as u64 + 20) as usize;
            for kind in EventType::ALL {
                let rec = recommender
                    .recommend(session, kind, k, Strategy::Heuristic)
                    .unwrap();
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
                    recommender
                        .recommend(session, kind, k, Strategy::Heuristic)
                        .unwrap()
                );
            }
        }
    }

    #[test]
    fn twenty_items_for_every_session_of_a_generated_world() {
        let (recommender, test) = world();
        for session in test.iter() {
            let lists = recommender
                .recommend_all(session, 20, Strategy::Heuristic)
                .unwrap();
            assert!(lists.iter().all(|l| l.len() == 20));
        }
    }

    #[test]
    fn the_ranker_strategy_without_rankers_is_an_error_not_a_fallback() {
        let (recommender, test) = world();
        let session = test.session(0);
        let err = recommender
            .recommend(session, EventType::Order, 20, Strategy::Ranker)
            .unwrap_err();
        assert_eq!(err.code(), "no_rankers");
        assert!(
            recommender
                .recommend_all(session, 20, Strategy::Ranker)
                .is_err()
        );
    }
}
