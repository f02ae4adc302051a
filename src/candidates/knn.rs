//! The session-kNN source (V-SKNN with STAN's sequence weights): the items of the
//! session's most similar past sessions, scored.

use super::CandidateConfig;
use super::aggregate::TableAgg;
use super::registry::Retrieval;
use crate::family::family;
use crate::index::Index;
use crate::index::sessions::{Neighbour, SessionIndex};

/// The items of the session's most similar past sessions, scored.
#[derive(Clone, Debug, Default)]
pub struct Knn {
    /// Whether the index has a session index (without one every feature is missing).
    indexed: bool,
    /// The items and their scores.
    pub agg: TableAgg<KnnAgg>,
    /// The similar past sessions, most similar first.
    pub neighbours: Vec<Neighbour>,
    /// The best score of an item (0: none).
    pub top: f32,
}

impl Knn {
    /// Walks `query` (from [`query`]; none when the source is off).
    pub(super) fn find(index: &Index, query: Option<Query<'_>>, config: &CandidateConfig) -> Self {
        let (agg, neighbours) = match query {
            Some(query) => query.score(config),
            None => (TableAgg::default(), Vec::new()),
        };
        Knn {
            indexed: index.sessions.is_some(),
            top: agg.aggs.iter().map(|(_, a)| a.score).fold(0.0, f32::max),
            agg,
            neighbours,
        }
    }
}

family! {
    /// The candidate among the items of the session's similar past sessions.
    KNN_NAMES;
    fn knn_values(found: &Knn, knn: KnnAgg) {}
    [
        "knn_score" => knn.score,
        "knn_max" => knn.best,
        "knn_count" => knn.neighbours as f32,
        "knn_share" => if found.top > 0.0 { knn.score / found.top } else { 0.0 },
        "knn_neighbours" => found.neighbours.len() as f32,
        "knn_top_similarity" => found.neighbours.first().map_or(0.0, |n| n.similarity),
        "knn_adjacent" => knn.adjacent,
        "knn_after_share" => if knn.score > 0.0 { knn.after / knn.score } else { 0.0 },
    ]
}

impl Retrieval for Knn {
    const RANKS: &'static [&'static str] = &["rank_knn"];
    const FEATURES: &'static [&'static str] = &KNN_NAMES;

    /// The `config.knn` best by score.
    fn offer(&self, config: &CandidateConfig, offer: &mut impl FnMut(usize, usize, u32)) {
        self.agg.offer_best(config.knn, |a| a.score, 0, offer);
    }

    #[inline]
    fn write_features(&self, aid: u32, row: &mut Vec<f32>) {
        if self.indexed {
            let agg = self.agg.get(aid).copied().unwrap_or_default();
            row.extend_from_slice(&knn_values(self, agg));
        } else {
            row.extend_from_slice(&[f32::NAN; KNN_NAMES.len()]);
        }
    }
}

/// A session's kNN lookup: the past sessions of its most recent distinct aids.
pub(super) struct Query<'a> {
    sessions: &'a SessionIndex,
    query: &'a [u32],
}

/// The lookup of a session whose distinct aids are `unique` (newest first), when the index
/// has a session index and the source is on; where its lists of past sessions are is
/// fetched at once, so it arrives while the tables are read.
pub(super) fn query<'a>(
    index: &'a Index,
    config: &CandidateConfig,
    unique: &'a [u32],
) -> Option<Query<'a>> {
    match &index.sessions {
        Some(sessions) if config.knn > 0 => {
            let query = &unique[..unique.len().min(config.knn_query)];
            query.iter().for_each(|&q| sessions.prefetch_list_offset(q));
            Some(Query { sessions, query })
        }
        _ => None,
    }
}

impl Query<'_> {
    /// Fetches the heads of the query's lists of past sessions, well before the lookup
    /// walks them.
    pub(super) fn prefetch_sessions(&self) {
        self.query
            .iter()
            .for_each(|&q| self.sessions.prefetch_sessions_of(q));
    }

    /// The most similar past sessions, most similar first, and their items scored.
    fn score(self, config: &CandidateConfig) -> (TableAgg<KnnAgg>, Vec<Neighbour>) {
        let mut neighbours = Vec::new();
        self.sessions.neighbours(
            self.query,
            config.knn_sample,
            config.knn_neighbours,
            &mut neighbours,
        );
        (
            score_neighbours(self.sessions, self.query, &neighbours, config.knn_idf),
            neighbours,
        )
    }
}

/// A candidate's score from the session's similar past sessions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KnnAgg {
    /// Σ over the neighbours that hold it of `similarity · decay · (1 + w · idf)`.
    pub score: f32,
    /// The largest single neighbour's term.
    pub best: f32,
    /// Neighbours that hold it.
    pub neighbours: u16,
    /// Σ of the terms, each over 1 + its distance in the neighbour session from the shared
    /// query item (STAN's sequence weighting: items next to the match count most).
    pub adjacent: f32,
    /// Σ of the terms where it came after the shared query item in the neighbour session.
    pub after: f32,
}

/// Neighbours ahead of the one being scored whose items are already being fetched.
const NEIGHBOURS_AHEAD: usize = 4;

/// Scores the items of `neighbours` (V-SKNN): each neighbour adds `similarity · decay ·
/// (1 + idf_weight · idf)` to each of its items, where `decay = 1 / (1 + step)` favours
/// neighbours that share the session's most recent items. `query` is the query the
/// neighbours were found for: `query[step]` is the match whose place in the neighbour
/// session the sequence-aware sums measure from.
fn score_neighbours(
    sessions: &SessionIndex,
    query: &[u32],
    neighbours: &[Neighbour],
    idf_weight: f32,
) -> TableAgg<KnnAgg> {
    // The neighbours' items are scattered over the index: where each neighbour's items
    // are is fetched for all at once, the items a few neighbours ahead of the one scored
    // (all at once, they would be more lines than the core keeps in flight).
    neighbours
        .iter()
        .for_each(|n| sessions.prefetch_offsets(n.session));
    neighbours
        .iter()
        .take(NEIGHBOURS_AHEAD)
        .for_each(|n| sessions.prefetch_items(n.session));
    let size: usize = neighbours
        .iter()
        .map(|n| sessions.items_of(n.session).len())
        .sum();
    let mut agg = TableAgg::<KnnAgg>::with_capacity(size);
    for (i, n) in neighbours.iter().enumerate() {
        if let Some(ahead) = neighbours.get(i + NEIGHBOURS_AHEAD) {
            sessions.prefetch_items(ahead.session);
        }
        let base = n.similarity / (1 + n.step as u32) as f32;
        let items = sessions.items_of(n.session);
        // Items are newest first: those before the match came after it.
        let matched = query
            .get(n.step as usize)
            .and_then(|q| items.iter().position(|i| i == q))
            .unwrap_or(items.len());
        for (p, &item) in items.iter().enumerate() {
            let w = base * (1.0 + idf_weight * sessions.idf(item));
            let a = agg.entry(item);
            a.score += w;
            a.best = a.best.max(w);
            a.neighbours += 1;
            a.adjacent += w / (1 + p.abs_diff(matched)) as f32;
            if p < matched {
                a.after += w;
            }
        }
    }
    agg
}
