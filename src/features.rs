//! The ranker's features for a (session, candidate) pair (docs/architecture.md, "Data flow"), computed by one
//! function used identically by `train`, `predict` and `serve`. [`FEATURE_NAMES`] defines
//! the order once; the model files carry the same names and are checked against it.
//!
//! Families: session (shape and time of the session), session × item (how the session
//! interacted with the candidate), item (global counts, recent counts and ratios from the
//! index), pair (co-visitation weights from the history, per table), the candidate's
//! rank in each source, item vectors, the items of similar past sessions, and the next-item
//! model's scores. Missing values (e.g. recency of an aid the session never touched)
//! are NaN, which LightGBM treats as missing.

use crate::candidates::{
    ABSENT, BUY_VECTORS, Candidate, Interaction, RECENT_SOURCES, RECENT_VECTORS, SessionContext,
};
use crate::domain::{HOUR, hour_of_day, weekday};
use crate::index::Index;
use crate::index::embedding::dots;

/// Feature names, in row order.
pub const FEATURE_NAMES: [&str; 115] = [
    // session
    "session_events",
    "session_duration_s",
    "session_distinct_aids",
    "session_clicks",
    "session_carts",
    "session_orders",
    "session_last_type",
    "session_hour",
    "session_weekday",
    "session_distinct_buys",
    "session_repeat_share",
    "session_events_last_hour",
    "session_seconds_since_previous",
    "session_open_cart",
    "session_seconds_since_order",
    // session × item
    "item_in_history",
    "item_session_clicks",
    "item_session_carts",
    "item_session_orders",
    "item_events_since",
    "item_seconds_since",
    "item_recency_type_score",
    "item_type_score",
    "item_history_position",
    "item_is_last",
    "item_is_top",
    "item_events_since_first",
    "item_seconds_since_click",
    "item_seconds_since_cart",
    "item_seconds_since_order",
    "item_session_share",
    "item_in_open_cart",
    // item
    "item_clicks_per_million",
    "item_carts_per_million",
    "item_orders_per_million",
    "item_clicks_recent",
    "item_carts_recent",
    "item_orders_recent",
    "item_cart_per_click",
    "item_order_per_cart",
    "item_order_per_click",
    "item_sessions_per_million",
    "item_weekend_share",
    "item_mean_hour",
    "item_clicks_last_day",
    "item_carts_last_day",
    "item_orders_last_day",
    "item_repeat_share",
    "item_click_trend",
    // pair: per table, in TableKind order
    "covisit_clicks_sum",
    "covisit_clicks_max",
    "covisit_clicks_count",
    "covisit_clicks_recency_sum",
    "covisit_clicks_from_last",
    "covisit_clicks_from_second",
    "covisit_clicks_from_third",
    "covisit_clicks_from_top",
    "covisit_carts_orders_sum",
    "covisit_carts_orders_max",
    "covisit_carts_orders_count",
    "covisit_carts_orders_recency_sum",
    "covisit_carts_orders_from_last",
    "covisit_carts_orders_from_second",
    "covisit_carts_orders_from_third",
    "covisit_carts_orders_from_top",
    "covisit_buy2buy_sum",
    "covisit_buy2buy_max",
    "covisit_buy2buy_count",
    "covisit_buy2buy_recency_sum",
    "covisit_buy2buy_from_last",
    "covisit_buy2buy_from_second",
    "covisit_buy2buy_from_third",
    "covisit_buy2buy_from_top",
    "covisit_click_to_buy_sum",
    "covisit_click_to_buy_max",
    "covisit_click_to_buy_count",
    "covisit_click_to_buy_recency_sum",
    "covisit_click_to_buy_from_last",
    "covisit_click_to_buy_from_second",
    "covisit_click_to_buy_from_third",
    "covisit_click_to_buy_from_top",
    "covisit_next_sum",
    "covisit_next_max",
    "covisit_next_count",
    "covisit_next_recency_sum",
    "covisit_next_from_last",
    "covisit_next_from_second",
    "covisit_next_from_third",
    "covisit_next_from_top",
    // candidate sources
    "rank_history",
    "rank_covisit_clicks",
    "rank_covisit_carts_orders",
    "rank_covisit_buy2buy",
    "rank_covisit_click_to_buy",
    "rank_covisit_next",
    "rank_popular_clicks",
    "rank_popular_orders",
    "rank_similar",
    "rank_knn",
    "num_sources",
    // embeddings (NaN without item vectors)
    "emb_cos_last",
    "emb_cos_session",
    "emb_cos_max_recent",
    "emb_cos_max_buys",
    "similar_recency_sum",
    "similar_count",
    // similar past sessions (NaN without the session index)
    "knn_score",
    "knn_max",
    "knn_count",
    "knn_share",
    "knn_neighbours",
    "knn_top_similarity",
    "knn_adjacent",
    "knn_after_share",
    // the next-item model (NaN without it)
    "next_item_score",
];

/// Number of features.
pub const NUM_FEATURES: usize = FEATURE_NAMES.len();

/// Features of the session family.
const SESSION_FEATURES: usize = 15;

/// The session-level part, computed once per session.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SessionFeatures([f32; SESSION_FEATURES]);

impl SessionFeatures {
    /// The session family of `ctx`.
    pub fn new(ctx: &SessionContext<'_>) -> Self {
        let s = ctx.session;
        let n = s.len();
        let mut counts = [0f32; 3];
        for t in s.types {
            counts[t.index()] += 1.0;
        }
        let (first, last) = (
            s.ts.first().copied().unwrap_or(0),
            s.ts.last().copied().unwrap_or(0),
        );
        // The times are in order, so `last - t` cannot underflow; `t + HOUR` could overflow.
        let last_hour = s.ts.iter().rev().take_while(|&&t| last - t < HOUR).count();
        let previous_gap = if n >= 2 {
            (s.ts[n - 1] - s.ts[n - 2]) as f32
        } else {
            f32::NAN
        };
        SessionFeatures([
            n as f32,
            (last - first) as f32,
            ctx.unique.len() as f32,
            counts[0],
            counts[1],
            counts[2],
            s.types.last().map_or(f32::NAN, |t| t.index() as f32),
            hour_of_day(last) as f32,
            weekday(last) as f32,
            ctx.unique_buys.len() as f32,
            if n == 0 {
                0.0
            } else {
                1.0 - ctx.unique.len() as f32 / n as f32
            },
            last_hour as f32,
            previous_gap,
            ctx.open_cart as f32,
            ctx.last_order_ts.map_or(f32::NAN, |t| (last - t) as f32),
        ])
    }
}

fn ratio(a: u32, b: u32) -> f32 {
    a as f32 / (b as f32 + 1.0)
}

/// Candidates ahead of the row being written whose item data is already being fetched.
const PREFETCH_AHEAD: usize = 8;

/// Appends the rows of `cands` to `rows`, in order. Each candidate's item statistics and
/// vector are fetched a few rows ahead of its own, so they arrive while earlier rows are
/// written instead of all being asked for at once.
pub fn write_rows(
    index: &Index,
    ctx: &SessionContext<'_>,
    session: &SessionFeatures,
    cands: &[Candidate],
    rows: &mut Vec<f32>,
) {
    rows.reserve(cands.len() * NUM_FEATURES);
    for c in cands.iter().take(PREFETCH_AHEAD) {
        index.prefetch_item(c.aid);
    }
    for (i, c) in cands.iter().enumerate() {
        if let Some(ahead) = cands.get(i + PREFETCH_AHEAD) {
            index.prefetch_item(ahead.aid);
        }
        write_row(index, ctx, session, c, rows);
    }
}

/// Appends the features of `candidate` to `row` (exactly [`NUM_FEATURES`] values).
pub fn write_row(
    index: &Index,
    ctx: &SessionContext<'_>,
    session: &SessionFeatures,
    candidate: &Candidate,
    row: &mut Vec<f32>,
) {
    let start = row.len();
    let aid = candidate.aid;
    row.extend_from_slice(&session.0);

    let n = ctx.session.len();
    let last_ts = ctx.session.ts.last().copied().unwrap_or(0);
    let since = |ts: u32| {
        if ts == 0 {
            f32::NAN
        } else {
            (last_ts - ts) as f32
        }
    };
    match ctx.interactions.get(&aid) {
        Some(Interaction {
            counts,
            events_since,
            events_since_first,
            last_ts: seen,
            last_ts_by_type,
            position,
            weighted,
            type_weighted,
        }) => row.extend_from_slice(&[
            1.0,
            counts[0] as f32,
            counts[1] as f32,
            counts[2] as f32,
            *events_since as f32,
            (last_ts - seen) as f32,
            *weighted,
            *type_weighted,
            *position as f32,
            (ctx.session.aids.last() == Some(&aid)) as u8 as f32,
            (ctx.top_aid == Some(aid)) as u8 as f32,
            *events_since_first as f32,
            since(last_ts_by_type[0]),
            since(last_ts_by_type[1]),
            since(last_ts_by_type[2]),
            counts.iter().map(|&c| c as f32).sum::<f32>() / n.max(1) as f32,
            ctx.in_open_cart(last_ts_by_type[1]) as u8 as f32,
        ]),
        None => row.extend_from_slice(&[
            0.0,
            0.0,
            0.0,
            0.0,
            f32::NAN,
            f32::NAN,
            0.0,
            0.0,
            f32::NAN,
            0.0,
            0.0,
            f32::NAN,
            f32::NAN,
            f32::NAN,
            f32::NAN,
            0.0,
            0.0,
        ]),
    }

    let stats = &index.stats;
    let [clicks, carts, orders] = stats.counts(aid);
    let recent = stats.recent(aid);
    let day = stats.last_day(aid);
    let item = stats.get(aid);
    let sessions = item.map_or(0, |r| r.sessions);
    let rates = stats.rates(aid);
    row.extend_from_slice(&[
        rates[0],
        rates[1],
        rates[2],
        recent[0] as f32,
        recent[1] as f32,
        recent[2] as f32,
        ratio(carts, clicks),
        ratio(orders, carts),
        ratio(orders, clicks),
        rates[3],
        item.map_or(f32::NAN, |r| r.weekend_share),
        item.map_or(f32::NAN, |r| r.mean_hour),
        day[0] as f32,
        day[1] as f32,
        day[2] as f32,
        ratio(item.map_or(0, |r| r.repeat_sessions), sessions),
        7.0 * ratio(day[0], recent[0]),
    ]);

    for agg in &ctx.covisit {
        let c = agg.get(aid).copied().unwrap_or_default();
        row.extend_from_slice(&[c.sum, c.max, c.count as f32, c.recency_sum]);
        row.extend_from_slice(&c.from_recent[..RECENT_SOURCES]);
        row.push(c.from_top);
    }
    for &rank in &candidate.ranks {
        row.push(if rank == ABSENT {
            f32::NAN
        } else {
            rank as f32
        });
    }
    row.push(candidate.num_sources() as f32);

    let v = &ctx.vectors;
    let own = index
        .embeddings
        .as_ref()
        .and_then(|e| e.vectors.vector(aid));
    // The candidate's cosines to the session's vectors, in one call: the last aid's, the
    // mean, the recent aids', the buys' (an absent vector is an empty slice, never read).
    const SESSION_VECTORS: usize = 2 + RECENT_VECTORS + BUY_VECTORS;
    let mut others: [&[f32]; SESSION_VECTORS] = [&[]; SESSION_VECTORS];
    let mut cosines = [f32::NAN; SESSION_VECTORS];
    let (recent, buys) = (v.recent.len(), v.buys.len());
    let [last, mean, rest @ ..] = &mut others;
    *last = v.last.unwrap_or_default();
    *mean = v.mean.as_deref().unwrap_or_default();
    rest[..recent].copy_from_slice(&v.recent);
    rest[recent..recent + buys].copy_from_slice(&v.buys);
    let used = 2 + recent + buys;
    if let Some(a) = own {
        dots(a, &others[..used], &mut cosines[..used]);
    }
    let cos = |i: usize, present: bool| if present { cosines[i] } else { f32::NAN };
    let max_cos = |range: std::ops::Range<usize>| match own {
        Some(_) if !range.is_empty() => cosines[range]
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max),
        _ => f32::NAN,
    };
    let similar = ctx.similar.get(aid).copied().unwrap_or_default();
    row.extend_from_slice(&[
        cos(0, v.last.is_some()),
        cos(1, v.mean.is_some()),
        max_cos(2..2 + recent),
        max_cos(2 + recent..used),
        similar.recency_sum,
        similar.count as f32,
    ]);

    if index.sessions.is_some() {
        let knn = ctx.knn.get(aid).copied().unwrap_or_default();
        row.extend_from_slice(&[
            knn.score,
            knn.best,
            knn.neighbours as f32,
            if ctx.knn_top > 0.0 {
                knn.score / ctx.knn_top
            } else {
                0.0
            },
            ctx.neighbours.len() as f32,
            ctx.neighbours.first().map_or(0.0, |n| n.similarity),
            knn.adjacent,
            if knn.score > 0.0 {
                knn.after / knn.score
            } else {
                0.0
            },
        ]);
    } else {
        row.extend_from_slice(&[f32::NAN; 8]);
    }

    // The next-item model's score of the candidate after the session.
    let next = index.embeddings.as_ref().and_then(|e| e.next.as_ref());
    row.push(
        next.zip(v.next.as_deref())
            .and_then(|(m, h)| m.score(h, aid))
            .unwrap_or(f32::NAN),
    );
    debug_assert_eq!(row.len() - start, NUM_FEATURES);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidates::{CandidateConfig, candidates};
    use crate::domain::EventType::{Cart, Click, Order};
    use crate::domain::{Session, SessionLog};
    use crate::index::embedding::next::NextItemModel;
    use crate::index::embedding::{Embeddings, ItemEmbeddings};
    use crate::index::{CovisitTable, ItemIds, ItemStats, Popular};

    fn index() -> Index {
        let t = |x: &[u32], y: &[u32], w: &[f32]| CovisitTable::from_rows(x, y, w).unwrap();
        let mut log = SessionLog::new();
        // Item statistics from one hand-made session: aid 7 clicked twice and carted once.
        let t0 = 1_661_000_000;
        log.push_session(9, &[7, 7, 7], &[t0, t0 + 1, t0 + 2], &[Click, Click, Cart]);
        Index {
            ids: ItemIds::default(),
            tables: [
                t(&[1], &[7], &[2.5]),
                t(&[2], &[7], &[6.0]),
                t(&[2], &[7], &[1.0]),
                t(&[1, 2], &[7, 7], &[3.0, 6.0]),
                CovisitTable::default(),
            ],
            stats: ItemStats::from_log(&log, 7),
            popular: Popular {
                by_type: [vec![7], vec![], vec![]],
            },
            // Vectors in 2-D: 1 = (1, 0), 2 = (0, 1), 7 = (0.6, 0.8); aid 7 is 2's nearest.
            embeddings: Some(ItemEmbeddings {
                vectors: Embeddings::from_rows(
                    2,
                    vec![
                        0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.6,
                        0.8,
                    ],
                ),
                similar: t(&[2], &[7], &[0.8]),
                // Next-item model in 2-D: inputs 1 = (1, 0), 2 = (0, 1); 7's output (2, 4).
                next: Some(NextItemModel::from_rows(
                    2,
                    vec![
                        0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                        0.0,
                    ],
                    vec![
                        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0,
                        4.0,
                    ],
                )),
            }),
            sessions: None,
        }
    }

    fn features_of(aid: u32) -> Vec<(&'static str, f32)> {
        // 2022-08-21 12:00:00 UTC is a Sunday.
        features_at(aid, 1_661_083_200)
    }

    /// The features of `aid` for the session 1, 2, 1 at `t - 600`, `t - 300` and `t`.
    fn features_at(aid: u32, t: u32) -> Vec<(&'static str, f32)> {
        let index = index();
        let (aids, ts, types) = ([1, 2, 1], [t - 600, t - 300, t], [Click, Order, Click]);
        let session = Session::new(&aids, &ts, &types);
        // Similar items of the two newest aids, so that both history positions count.
        let config = CandidateConfig {
            similar_history: 2,
            ..CandidateConfig::default()
        };
        let ctx = SessionContext::new(&index, session, &config);
        let cands = candidates(&ctx, &index, &config);
        let at = cands.iter().position(|c| c.aid == aid).expect("candidate");
        let mut rows = Vec::new();
        write_rows(&index, &ctx, &SessionFeatures::new(&ctx), &cands, &mut rows);
        assert_eq!(rows.len(), cands.len() * NUM_FEATURES);
        let row = rows[at * NUM_FEATURES..(at + 1) * NUM_FEATURES].to_vec();
        FEATURE_NAMES.iter().copied().zip(row).collect()
    }

    fn get(features: &[(&str, f32)], name: &str) -> f32 {
        features
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name}"))
            .1
    }

    #[test]
    fn session_family() {
        let f = features_of(1);
        assert_eq!(get(&f, "session_events"), 3.0);
        assert_eq!(get(&f, "session_duration_s"), 600.0);
        assert_eq!(get(&f, "session_distinct_aids"), 2.0);
        assert_eq!(get(&f, "session_clicks"), 2.0);
        assert_eq!(get(&f, "session_orders"), 1.0);
        assert_eq!(get(&f, "session_last_type"), 0.0);
        assert_eq!(get(&f, "session_hour"), 12.0);
        assert_eq!(get(&f, "session_weekday"), 6.0);
        assert_eq!(get(&f, "session_distinct_buys"), 1.0);
        assert_eq!(get(&f, "session_repeat_share"), 1.0 - 2.0 / 3.0);
        assert_eq!(get(&f, "session_events_last_hour"), 3.0);
        assert_eq!(get(&f, "session_seconds_since_previous"), 300.0);
        // The order of 2 closes the cart: nothing carted since.
        assert_eq!(get(&f, "session_open_cart"), 0.0);
        assert_eq!(get(&f, "session_seconds_since_order"), 300.0);
    }

    #[test]
    fn the_last_second_of_u32_time_does_not_overflow() {
        let f = features_at(1, u32::MAX);
        assert_eq!(get(&f, "session_events_last_hour"), 3.0);
        assert_eq!(get(&f, "session_duration_s"), 600.0);
        assert_eq!(get(&f, "session_seconds_since_order"), 300.0);
    }

    #[test]
    fn session_item_family() {
        let f = features_of(1);
        assert_eq!(get(&f, "item_in_history"), 1.0);
        assert_eq!(get(&f, "item_session_clicks"), 2.0);
        assert_eq!(get(&f, "item_events_since"), 0.0);
        assert_eq!(get(&f, "item_seconds_since"), 0.0);
        assert_eq!(get(&f, "item_type_score"), 2.0);
        assert_eq!(get(&f, "item_history_position"), 0.0);
        assert_eq!(get(&f, "item_is_last"), 1.0);
        let f = features_of(2);
        assert_eq!(get(&f, "item_seconds_since"), 300.0);
        assert_eq!(get(&f, "item_type_score"), 3.0);
        assert_eq!(
            get(&f, "item_is_top"),
            1.0,
            "the order outweighs two clicks"
        );
        let f = features_of(1);
        assert_eq!(get(&f, "item_events_since_first"), 2.0);
        assert_eq!(get(&f, "item_seconds_since_click"), 0.0);
        assert!(get(&f, "item_seconds_since_order").is_nan());
        assert_eq!(get(&f, "item_session_share"), 2.0 / 3.0);
        let f = features_of(2);
        assert_eq!(get(&f, "item_seconds_since_order"), 300.0);
        let f = features_of(7);
        assert_eq!(get(&f, "item_in_history"), 0.0);
        assert!(get(&f, "item_events_since").is_nan());
        assert!(get(&f, "item_seconds_since_click").is_nan());
    }

    #[test]
    fn item_family() {
        let f = features_of(7);
        // Per million events of the type: aid 7 has all 2 clicks and the 1 cart.
        assert_eq!(get(&f, "item_clicks_per_million"), 1e6);
        assert_eq!(get(&f, "item_carts_per_million"), 1e6);
        assert_eq!(get(&f, "item_cart_per_click"), 1.0 / 3.0);
        assert_eq!(get(&f, "item_order_per_cart"), 0.0);
        assert_eq!(get(&f, "item_sessions_per_million"), 1e6);
        assert_eq!(get(&f, "item_clicks_recent"), 2.0);
        assert_eq!(get(&f, "item_clicks_last_day"), 2.0);
        assert_eq!(
            get(&f, "item_repeat_share"),
            0.5,
            "1 repeat session / (1 + 1)"
        );
        assert_eq!(get(&f, "item_click_trend"), 7.0 * (2.0 / 3.0));
    }

    #[test]
    fn pair_and_rank_family() {
        let f = features_of(7);
        // Clicks table: 1 -> 7 (2.5); 1 is the last aid and at history position 0.
        assert_eq!(get(&f, "covisit_clicks_sum"), 2.5);
        assert_eq!(get(&f, "covisit_clicks_from_last"), 2.5);
        assert_eq!(get(&f, "covisit_clicks_recency_sum"), 2.5);
        // carts_orders: 2 -> 7 (6.0); 2 is at position 1 and the top aid.
        assert_eq!(get(&f, "covisit_carts_orders_sum"), 6.0);
        assert_eq!(get(&f, "covisit_carts_orders_recency_sum"), 3.0);
        assert_eq!(get(&f, "covisit_carts_orders_from_top"), 6.0);
        assert_eq!(get(&f, "covisit_carts_orders_from_last"), 0.0);
        assert_eq!(get(&f, "covisit_buy2buy_count"), 1.0);
        // click_to_buy: 1 -> 7 (3.0, the last aid), 2 -> 7 (6.0, the second).
        assert_eq!(get(&f, "covisit_click_to_buy_from_last"), 3.0);
        assert_eq!(get(&f, "covisit_click_to_buy_from_second"), 6.0);
        assert_eq!(get(&f, "covisit_click_to_buy_from_third"), 0.0);
        assert_eq!(get(&f, "covisit_next_sum"), 0.0);
        assert_eq!(get(&f, "rank_covisit_clicks"), 0.0);
        assert_eq!(get(&f, "rank_popular_clicks"), 0.0);
        assert!(get(&f, "rank_history").is_nan());
        assert!(get(&f, "rank_popular_orders").is_nan());
        assert_eq!(
            get(&f, "num_sources"),
            6.0,
            "five tables and popular, and similar items"
        );
    }

    #[test]
    fn embedding_family() {
        // Session 1, 2, 1 (newest first: 1, 2); the order of 2 makes it the one buy.
        let f = features_of(7);
        assert!((get(&f, "emb_cos_last") - 0.6).abs() < 1e-6, "cos(7, 1)");
        // Mean of 1 (weight 1) and 2 (weight 1/2): (1, 0.5) / |.|.
        let norm = (1.0f32 + 0.25).sqrt();
        let expected = (0.6 * 1.0 + 0.8 * 0.5) / norm;
        assert!((get(&f, "emb_cos_session") - expected).abs() < 1e-6);
        assert!((get(&f, "emb_cos_max_recent") - 0.8).abs() < 1e-6);
        assert!(
            (get(&f, "emb_cos_max_buys") - 0.8).abs() < 1e-6,
            "cos(7, 2)"
        );
        // 7 is similar to 2, the second most recent aid: 0.8 / 2.
        assert!((get(&f, "similar_recency_sum") - 0.4).abs() < 1e-6);
        assert_eq!(get(&f, "similar_count"), 1.0);
        assert_eq!(get(&f, "rank_similar"), 0.0);
        // The last aid itself, and an orthogonal one.
        assert_eq!(get(&features_of(1), "emb_cos_last"), 1.0);
        assert_eq!(get(&features_of(2), "emb_cos_last"), 0.0);
    }

    #[test]
    fn next_item_score() {
        // Session 1, 2, 1: inputs weighted 1, 1/2, 1/3 from the newest, then averaged:
        // ((1 + 1/3), 1/2) / (11/6) = (8/11, 3/11); · (2, 4) = 28/11.
        let score = get(&features_of(7), "next_item_score");
        assert!((score - 28.0 / 11.0).abs() < 1e-6, "{score}");
        // An item with an input vector but a zero output vector scores zero.
        assert_eq!(get(&features_of(2), "next_item_score"), 0.0);
    }

    #[test]
    fn names_are_unique_and_the_table_blocks_follow_the_tables() {
        let mut sorted = FEATURE_NAMES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), NUM_FEATURES);
        for kind in crate::index::TableKind::ALL {
            let sum = format!("covisit_{}_sum", kind.name());
            let rank = format!("rank_covisit_{}", kind.name());
            assert!(FEATURE_NAMES.contains(&sum.as_str()), "{sum}");
            assert!(FEATURE_NAMES.contains(&rank.as_str()), "{rank}");
        }
    }
}
