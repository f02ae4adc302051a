//! Candidate generation for the ranker: the session's history, the neighbours of its
//! history in each co-visitation table, similar items, the items of similar past sessions
//! and popular items, merged into one set per session (shared by the three objectives).
//! Each candidate carries its rank in every source.
//!
//! Each retrieval source and feature scorer is one module here, registered once in
//! [`registry`]. [`SessionContext`] holds what is computed once per session — what the
//! session shows ([`Seen`]: per-aid interactions, the open cart) and what each source and
//! scorer found — and is what the features read, so a candidate's features cost a few
//! lookups.

mod aggregate;
mod covisit;
mod history;
mod knn;
mod popular;
pub mod registry;
mod scorers;
mod similar;

use rustc_hash::FxHashMap;

use self::aggregate::AidSlots;
pub use self::aggregate::TableAgg;
// What each source and scorer found: the types of `Sources`' and `Scorers`' fields.
pub use self::covisit::{Covisit, CovisitAgg};
pub use self::history::History;
pub use self::knn::{Knn, KnnAgg};
pub use self::popular::PopularItems;
pub use self::registry::{NUM_SOURCES, Scorers, Source, Sources};
pub use self::scorers::{NextItem, SessionVectors, Vectors};
pub use self::similar::Similar;
use crate::domain::{
    BUYS_RECENCY, EVENT_TYPE_WEIGHTS, EventType, Session, recency_weight, unique_newest_first,
};
use crate::index::Index;

/// Rank of a candidate in a source it did not come from.
pub const ABSENT: u16 = u16::MAX;

/// How a table's neighbours of the history are ranked to pick the best `per_table`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NeighbourRanking {
    /// By the sum of their weights over the history aids.
    #[default]
    Sum,
    /// By Σ weight / (1 + position of the history aid): neighbours of recent aids first.
    Recency,
}

/// How many candidates each source contributes.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CandidateConfig {
    /// Most recent distinct history aids.
    pub history: usize,
    /// Best neighbours per co-visitation table.
    pub per_table: usize,
    /// Popular items per popularity list.
    pub popular: usize,
    /// History aids (newest first) whose co-visitation rows are aggregated.
    pub history_for_neighbours: usize,
    /// How the neighbours are ranked.
    #[serde(default)]
    pub neighbour_ranking: NeighbourRanking,
    /// Most recent distinct aids whose similar items (by embedding) are candidates.
    #[serde(default)]
    pub similar_history: usize,
    /// Similar items kept as candidates (the best by recency-weighted cosine).
    #[serde(default)]
    pub similar: usize,
    /// Items of similar past sessions kept as candidates (the best by kNN score); 0 turns
    /// the session neighbours off.
    #[serde(default)]
    pub knn: usize,
    /// The session's most recent distinct aids that look up past sessions.
    #[serde(default)]
    pub knn_query: usize,
    /// Most recent past sessions sharing an item that are compared with the session.
    #[serde(default)]
    pub knn_sample: usize,
    /// Most similar of them whose items are scored.
    #[serde(default)]
    pub knn_neighbours: usize,
    /// Weight of an item's IDF in its score: `similarity · decay · (1 + w · idf)`.
    #[serde(default)]
    pub knn_idf: f32,
}

impl Default for CandidateConfig {
    fn default() -> Self {
        CandidateConfig {
            history: 40,
            per_table: 30,
            popular: 5,
            history_for_neighbours: 5,
            neighbour_ranking: NeighbourRanking::Recency,
            similar_history: 1,
            similar: 20,
            knn: 30,
            knn_query: 5,
            knn_sample: 200,
            knn_neighbours: 50,
            knn_idf: 1.0,
        }
    }
}

/// A session's interactions with one aid.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Interaction {
    /// Events by type.
    pub counts: [u16; 3],
    /// Events after its last interaction (0: it is the last event).
    pub events_since: u32,
    /// Events after its first interaction.
    pub events_since_first: u32,
    /// Timestamp of its last interaction.
    pub last_ts: u32,
    /// Timestamp of its last interaction of each type (0: none).
    pub last_ts_by_type: [u32; 3],
    /// Position in the newest-first distinct history.
    pub position: u32,
    /// Σ recency weight (buys range) × type weight over its events.
    pub weighted: f32,
    /// Σ type weight over its events.
    pub type_weighted: f32,
}

/// Most recent distinct aids whose own weights are features.
pub const RECENT_SOURCES: usize = 3;
/// Most recent distinct aids in the session's mean vector and its "max cosine to a recent
/// aid" feature.
pub const RECENT_VECTORS: usize = 5;
/// Most recent carted or ordered aids in the "max cosine to a buy" feature.
pub const BUY_VECTORS: usize = 10;

/// What the session itself shows: its distinct aids, its interactions with each, its
/// open cart. Every source and scorer reads it.
#[derive(Clone, Debug)]
pub struct Seen<'a> {
    pub session: Session<'a>,
    pub unique: Vec<u32>,
    pub unique_buys: Vec<u32>,
    pub interactions: FxHashMap<u32, Interaction>,
    /// The aid with the highest recency- and type-weighted score.
    pub top_aid: Option<u32>,
    /// Time of the session's last order, if any: a checkout empties the cart.
    pub last_order_ts: Option<u32>,
    /// Distinct aids carted after the last order (the open cart).
    pub open_cart: usize,
}

impl<'a> Seen<'a> {
    fn new(session: Session<'a>) -> Self {
        let (unique, unique_buys) = unique_newest_first(session);
        let (interactions, top_aid) = interactions(session, &unique);
        let (last_order_ts, open_cart) = open_cart(session);
        Seen {
            session,
            unique,
            unique_buys,
            interactions,
            top_aid,
            last_order_ts,
            open_cart,
        }
    }

    /// True when an aid last carted at `cart_ts` (0: never) is in the open cart: carted
    /// after the session's last order.
    pub fn in_open_cart(&self, cart_ts: u32) -> bool {
        cart_ts != 0 && self.last_order_ts.is_none_or(|o| cart_ts > o)
    }
}

/// Everything computed once per session: what it shows ([`Seen`], also reached through
/// the context itself), what each retrieval source found and what each scorer computed.
#[derive(Clone, Debug)]
pub struct SessionContext<'a> {
    pub seen: Seen<'a>,
    pub sources: Sources<'a>,
    pub scorers: Scorers<'a>,
}

impl<'a> SessionContext<'a> {
    /// Computes the context of `session` over `index`: what the session shows, then every
    /// registered source and scorer ([`registry::find`]).
    pub fn new(index: &'a Index, session: Session<'a>, config: &CandidateConfig) -> Self {
        let seen = Seen::new(session);
        let (sources, scorers) = registry::find(index, &seen, config);
        SessionContext {
            seen,
            sources,
            scorers,
        }
    }
}

impl<'a> std::ops::Deref for SessionContext<'a> {
    type Target = Seen<'a>;

    fn deref(&self) -> &Seen<'a> {
        &self.seen
    }
}

/// The session's interactions with each of its aids, and the aid with the highest
/// weighted score (ties to the more recent aid).
fn interactions(
    session: Session<'_>,
    unique: &[u32],
) -> (FxHashMap<u32, Interaction>, Option<u32>) {
    let n = session.len();
    let mut interactions: FxHashMap<u32, Interaction> =
        FxHashMap::with_capacity_and_hasher(unique.len(), Default::default());
    for i in 0..n {
        let kind = session.types[i];
        let e = interactions.entry(session.aids[i]).or_insert(Interaction {
            events_since_first: (n - 1 - i) as u32,
            ..Interaction::default()
        });
        e.counts[kind.index()] = e.counts[kind.index()].saturating_add(1);
        e.events_since = (n - 1 - i) as u32;
        e.last_ts = session.ts[i];
        e.last_ts_by_type[kind.index()] = session.ts[i];
        let type_weight = EVENT_TYPE_WEIGHTS[kind.index()];
        e.weighted += (recency_weight(i, n, BUYS_RECENCY) * type_weight as f64) as f32;
        e.type_weighted += type_weight;
    }
    for (p, aid) in unique.iter().enumerate() {
        if let Some(e) = interactions.get_mut(aid) {
            e.position = p as u32;
        }
    }
    let top_aid = unique
        .iter()
        .copied()
        .fold(None::<(u32, f32)>, |best, aid| {
            let w = interactions[&aid].weighted;
            match best {
                Some((_, bw)) if bw >= w => best,
                _ => Some((aid, w)),
            }
        })
        .map(|(aid, _)| aid);
    (interactions, top_aid)
}

/// The time of the session's last order, and the distinct aids carted after it (the open
/// cart: a checkout empties it).
fn open_cart(session: Session<'_>) -> (Option<u32>, usize) {
    let n = session.len();
    let last_order = (0..n).rev().find(|&i| session.types[i] == EventType::Order);
    let mut cart: Vec<u32> = (last_order.map_or(0, |i| i + 1)..n)
        .filter(|&i| session.types[i] == EventType::Cart)
        .map(|i| session.aids[i])
        .collect();
    cart.sort_unstable();
    cart.dedup();
    (last_order.map(|i| session.ts[i]), cart.len())
}

/// One candidate: an aid and its rank in each source ([`ABSENT`] where it is not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub aid: u32,
    pub ranks: [u16; NUM_SOURCES],
}

impl Candidate {
    /// Number of sources it came from.
    pub fn num_sources(&self) -> usize {
        self.ranks.iter().filter(|&&r| r != ABSENT).count()
    }
}

/// The merged candidate set of a session, in a deterministic order (history first, then
/// each source in turn, as [`Sources::offer`] offers them).
pub fn candidates(ctx: &SessionContext<'_>, config: &CandidateConfig) -> Vec<Candidate> {
    let most = Sources::most(config);
    let mut out: Vec<Candidate> = Vec::with_capacity(most);
    let mut slot = AidSlots::with_capacity(most);
    ctx.sources.offer(config, &mut |source, rank, aid| {
        let (i, new) = slot.get_or_insert(aid, out.len() as u32);
        if new {
            out.push(Candidate {
                aid,
                ranks: [ABSENT; NUM_SOURCES],
            });
        }
        out[i as usize].ranks[source] = rank.min(ABSENT as usize - 1) as u16;
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventType::{Cart, Click};
    use crate::index::{CovisitTable, ItemIds, ItemStats, Popular, TableKind};

    fn source(name: &str) -> usize {
        Source::named(name).unwrap().index()
    }

    fn index() -> Index {
        let t = |x: &[u32], y: &[u32], w: &[f32]| CovisitTable::from_rows(x, y, w).unwrap();
        Index {
            ids: ItemIds::default(),
            tables: [
                t(&[1, 1, 2], &[10, 11, 10], &[4.0, 2.0, 3.0]),
                t(&[1], &[12], &[6.0]),
                t(&[2], &[13], &[1.0]),
                t(&[2], &[14], &[5.0]),
                CovisitTable::default(),
            ],
            stats: ItemStats::default(),
            popular: Popular {
                by_type: [vec![50, 10], vec![], vec![60]],
            },
            embeddings: None,
            sessions: None,
            next_item: None,
        }
    }

    #[test]
    fn context_aggregates_history_and_covisitation_by_hand() {
        let index = index();
        let (aids, ts, types) = ([1, 2, 1], [100, 200, 300], [Click, Cart, Click]);
        let session = Session::new(&aids, &ts, &types);
        let ctx = SessionContext::new(&index, session, &CandidateConfig::default());
        assert_eq!(ctx.unique, vec![1, 2]);
        assert_eq!(ctx.unique_buys, vec![2]);
        let one = ctx.interactions[&1];
        assert_eq!(one.counts, [2, 0, 0]);
        assert_eq!(one.events_since, 0);
        assert_eq!(one.events_since_first, 2);
        assert_eq!(one.last_ts, 300);
        assert_eq!(one.last_ts_by_type, [300, 0, 0]);
        assert_eq!(ctx.interactions[&2].last_ts_by_type, [0, 200, 0]);
        // Buys recency over 3 events: 2^0.5 − 1, 2^0.75 − 1, 2^1 − 1.
        let w = |i: usize| recency_weight(i, 3, BUYS_RECENCY);
        assert_eq!(one.weighted, (w(0) * 1.0) as f32 + (w(2) * 1.0) as f32);
        assert_eq!(ctx.interactions[&2].weighted, (w(1) * 6.0) as f32);
        assert_eq!(ctx.top_aid, Some(2));
        // Clicks table: 10 from 1 (4.0, position 0) and from 2 (3.0, position 1).
        let agg = *ctx.sources.covisit.tables[0].get(10).unwrap();
        assert_eq!((agg.sum, agg.max, agg.count), (7.0, 4.0, 2));
        assert_eq!(agg.recency_sum, 4.0 + 1.5);
        assert_eq!(agg.from_recent, [4.0, 3.0, 0.0]);
        assert_eq!(agg.from_top, 3.0);
        // Buy2buy is aggregated over buys only.
        assert_eq!(ctx.sources.covisit.tables[2].get(13).unwrap().sum, 1.0);
        assert_eq!(
            ctx.sources.covisit.tables[3].get(14).unwrap().from_recent,
            [0.0, 5.0, 0.0]
        );
    }

    #[test]
    fn recent_and_top_weights_are_each_source_rows_weight_whatever_the_history_read() {
        let index = index();
        let (aids, ts, types) = (
            [3, 1, 2, 1, 2, 9],
            [100, 200, 300, 400, 500, 600],
            [Cart, Click, Cart, Click, Click, Click],
        );
        let session = Session::new(&aids, &ts, &types);
        for history in 0..=6 {
            let config = CandidateConfig {
                history_for_neighbours: history,
                ..CandidateConfig::default()
            };
            let ctx = SessionContext::new(&index, session, &config);
            for kind in TableKind::ALL {
                let table = index.table(kind);
                for (aid, agg) in &ctx.sources.covisit.tables[kind as usize].aggs {
                    let from_recent: [f32; RECENT_SOURCES] = std::array::from_fn(|r| {
                        ctx.unique.get(r).map_or(0.0, |&x| table.weight(x, *aid))
                    });
                    let from_top = ctx.top_aid.map_or(0.0, |x| table.weight(x, *aid));
                    assert_eq!(agg.from_recent, from_recent, "{kind:?} {history} {aid}");
                    assert_eq!(agg.from_top, from_top, "{kind:?} {history} {aid}");
                }
            }
        }
    }

    #[test]
    fn candidates_merge_sources_with_their_ranks() {
        let index = index();
        let (aids, ts, types) = ([1, 2, 1], [100, 200, 300], [Click, Cart, Click]);
        let session = Session::new(&aids, &ts, &types);
        let config = CandidateConfig::default();
        let ctx = SessionContext::new(&index, session, &config);
        let cands = candidates(&ctx, &config);
        let aids: Vec<u32> = cands.iter().map(|c| c.aid).collect();
        assert_eq!(aids, vec![2, 1, 10, 11, 12, 13, 14, 50, 60]);
        let ten = cands.iter().find(|c| c.aid == 10).unwrap();
        let mut expected = [ABSENT; NUM_SOURCES];
        expected[source("covisit_clicks")] = 0;
        expected[source("popular_clicks")] = 1;
        assert_eq!(ten.ranks, expected);
        assert_eq!(ten.num_sources(), 2);
        assert_eq!(cands[0].ranks[source("history")], 0);
    }

    #[test]
    fn similar_past_sessions_score_their_items_by_hand() {
        use crate::domain::SessionLog;
        use crate::index::sessions::{SessionIndex, SessionKnnParams};
        // Past sessions: [2, 20] then (newer) [1, 21]; numbered newest first.
        let mut past = SessionLog::new();
        past.push_session(0, &[2, 20], &[10, 11], &[Click, Click]);
        past.push_session(1, &[1, 21], &[20, 21], &[Click, Click]);
        let mut index = index();
        let stats = ItemStats::default();
        index.sessions =
            Some(SessionIndex::build(&past, 30, &SessionKnnParams::default()).with_idf(&stats));
        let (aids, ts, types) = ([1, 2, 1], [100, 200, 300], [Click, Cart, Click]);
        let session = Session::new(&aids, &ts, &types);
        let config = CandidateConfig::default();
        let ctx = SessionContext::new(&index, session, &config);
        // Newest first the session is [1, 2]: weights 1 and 1/2, over m = 2. [1, 21] shares
        // 1 (similarity 0.5, step 0); [2, 20] shares 2 (0.25, step 1, decay 1/2). Every
        // item's IDF is ln(2 sessions / 1).
        let idf = 1.0 + 2f32.ln();
        assert_eq!(ctx.sources.knn.neighbours.len(), 2);
        let score = |aid: u32| ctx.sources.knn.agg.get(aid).unwrap().score;
        assert_eq!(score(21), 0.5 * idf);
        assert_eq!(score(1), 0.5 * idf);
        assert_eq!(score(20), 0.125 * idf);
        assert_eq!(ctx.sources.knn.agg.get(20).unwrap().neighbours, 1);
        assert_eq!(ctx.sources.knn.top, 0.5 * idf);
        // Stored newest first, [21, 1] matches at 1 (position 1): 21 came after the match,
        // one step away; the match itself is at distance 0. Likewise 20 in [20, 2].
        let agg = |aid: u32| *ctx.sources.knn.agg.get(aid).unwrap();
        assert_eq!((agg(21).adjacent, agg(21).after), (0.25 * idf, 0.5 * idf));
        assert_eq!((agg(1).adjacent, agg(1).after), (0.5 * idf, 0.0));
        assert_eq!(
            (agg(20).adjacent, agg(20).after),
            (0.0625 * idf, 0.125 * idf)
        );
        let cands = candidates(&ctx, &config);
        let rank = |aid: u32| cands.iter().find(|c| c.aid == aid).unwrap().ranks[source("knn")];
        assert_eq!((rank(21), rank(1), rank(20), rank(2)), (0, 1, 2, 3));
        // --knn 0 leaves the source out.
        let off = CandidateConfig { knn: 0, ..config };
        let ctx = SessionContext::new(&index, session, &off);
        assert!(ctx.sources.knn.neighbours.is_empty() && ctx.sources.knn.agg.get(21).is_none());
    }
}
