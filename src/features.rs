//! The ranker's features for a (session, candidate) pair (docs/architecture.md, "Data
//! flow"), computed by one function used identically by `train`, `predict` and `serve`.
//!
//! Each family of features is declared once, by [`family!`](crate::family::family): every
//! feature's name beside the expression that computes it, so a name and its value cannot
//! drift apart. The families' name lists, concatenated in row order, are
//! [`FEATURE_NAMES`]; the model files carry the same names and are checked against it.
//!
//! This module declares the families every row has: session (shape and time of the
//! session), session × item (how the session interacted with the candidate) and item
//! (global counts, recent counts and ratios from the index). The rest of the row is
//! written by the retrieval sources and feature scorers, each declaring its own family
//! (`candidates::registry`): co-visitation weights per table, the candidate's rank in each
//! source, item-vector cosines, similar items, the items of similar past sessions and the
//! next-item model's score. Missing values (e.g. recency of an aid the session never
//! touched) are NaN, which LightGBM treats as missing.

use crate::candidates::registry::{self, SOURCE_FEATURE_NAMES};
use crate::candidates::{Candidate, SessionContext};
use crate::domain::{HOUR, hour_of_day, weekday};
use crate::family::{concat, family, total};
use crate::index::Index;

family! {
    /// The session family: computed once per session ([`SessionFeatures`]).
    pub SESSION_NAMES;
    fn session_values(ctx: &SessionContext<'_>) {
        let s = ctx.session;
        let n = s.len();
        let counts = s.types.iter().fold([0f32; 3], |mut c, t| {
            c[t.index()] += 1.0;
            c
        });
        let first = s.ts.first().copied().unwrap_or(0);
        let last = s.ts.last().copied().unwrap_or(0);
        // The times are in order, so `last - t` cannot underflow; `t + HOUR` could overflow.
        let last_hour = s.ts.iter().rev().take_while(|&&t| last - t < HOUR).count();
    }
    [
        "session_events" => n as f32,
        "session_duration_s" => (last - first) as f32,
        "session_distinct_aids" => ctx.unique.len() as f32,
        "session_clicks" => counts[0],
        "session_carts" => counts[1],
        "session_orders" => counts[2],
        "session_last_type" => s.types.last().map_or(f32::NAN, |t| t.index() as f32),
        "session_hour" => hour_of_day(last) as f32,
        "session_weekday" => weekday(last) as f32,
        "session_distinct_buys" => ctx.unique_buys.len() as f32,
        "session_repeat_share" => if n == 0 { 0.0 } else { 1.0 - ctx.unique.len() as f32 / n as f32 },
        "session_events_last_hour" => last_hour as f32,
        "session_seconds_since_previous" => if n >= 2 { (s.ts[n - 1] - s.ts[n - 2]) as f32 } else { f32::NAN },
        "session_open_cart" => ctx.open_cart as f32,
        "session_seconds_since_order" => ctx.last_order_ts.map_or(f32::NAN, |t| (last - t) as f32),
    ]
}

family! {
    /// How the session interacted with the candidate (zeros and NaNs when it did not).
    pub SESSION_ITEM_NAMES;
    fn session_item_values(ctx: &SessionContext<'_>, aid: u32) {
        let n = ctx.session.len();
        let last_ts = ctx.session.ts.last().copied().unwrap_or(0);
        let since = |ts: u32| if ts == 0 { f32::NAN } else { (last_ts - ts) as f32 };
        let seen = ctx.interactions.get(&aid);
        let count = |t: usize| seen.map_or(0.0, |i| i.counts[t] as f32);
    }
    [
        "item_in_history" => seen.map_or(0.0, |_| 1.0),
        "item_session_clicks" => count(0),
        "item_session_carts" => count(1),
        "item_session_orders" => count(2),
        "item_events_since" => seen.map_or(f32::NAN, |i| i.events_since as f32),
        "item_seconds_since" => seen.map_or(f32::NAN, |i| (last_ts - i.last_ts) as f32),
        "item_recency_type_score" => seen.map_or(0.0, |i| i.weighted),
        "item_type_score" => seen.map_or(0.0, |i| i.type_weighted),
        "item_history_position" => seen.map_or(f32::NAN, |i| i.position as f32),
        "item_is_last" => seen.map_or(0.0, |_| (ctx.session.aids.last() == Some(&aid)) as u8 as f32),
        "item_is_top" => seen.map_or(0.0, |_| (ctx.top_aid == Some(aid)) as u8 as f32),
        "item_events_since_first" => seen.map_or(f32::NAN, |i| i.events_since_first as f32),
        "item_seconds_since_click" => seen.map_or(f32::NAN, |i| since(i.last_ts_by_type[0])),
        "item_seconds_since_cart" => seen.map_or(f32::NAN, |i| since(i.last_ts_by_type[1])),
        "item_seconds_since_order" => seen.map_or(f32::NAN, |i| since(i.last_ts_by_type[2])),
        "item_session_share" => seen.map_or(0.0, |i| {
            i.counts.iter().map(|&c| c as f32).sum::<f32>() / n.max(1) as f32
        }),
        "item_in_open_cart" => seen.map_or(0.0, |i| ctx.in_open_cart(i.last_ts_by_type[1]) as u8 as f32),
    ]
}

fn ratio(a: u32, b: u32) -> f32 {
    a as f32 / (b as f32 + 1.0)
}

family! {
    /// The candidate's own statistics in the index.
    pub ITEM_NAMES;
    fn item_values(index: &Index, aid: u32) {
        let stats = &index.stats;
        let [clicks, carts, orders] = stats.counts(aid);
        let recent = stats.recent(aid);
        let day = stats.last_day(aid);
        let item = stats.get(aid);
        let sessions = item.map_or(0, |r| r.sessions);
        let rates = stats.rates(aid);
    }
    [
        "item_clicks_per_million" => rates[0],
        "item_carts_per_million" => rates[1],
        "item_orders_per_million" => rates[2],
        "item_clicks_recent" => recent[0] as f32,
        "item_carts_recent" => recent[1] as f32,
        "item_orders_recent" => recent[2] as f32,
        "item_cart_per_click" => ratio(carts, clicks),
        "item_order_per_cart" => ratio(orders, carts),
        "item_order_per_click" => ratio(orders, clicks),
        "item_sessions_per_million" => rates[3],
        "item_weekend_share" => item.map_or(f32::NAN, |r| r.weekend_share),
        "item_mean_hour" => item.map_or(f32::NAN, |r| r.mean_hour),
        "item_clicks_last_day" => day[0] as f32,
        "item_carts_last_day" => day[1] as f32,
        "item_orders_last_day" => day[2] as f32,
        "item_repeat_share" => ratio(item.map_or(0, |r| r.repeat_sessions), sessions),
        "item_click_trend" => 7.0 * ratio(day[0], recent[0]),
    ]
}

/// The families of a row, in order: the session, session × item and item families, then
/// what the retrieval sources and feature scorers write
/// ([`SOURCE_FEATURE_NAMES`](registry::SOURCE_FEATURE_NAMES)).
const FAMILIES: &[&[&str]] = &[
    &SESSION_NAMES,
    &SESSION_ITEM_NAMES,
    &ITEM_NAMES,
    &SOURCE_FEATURE_NAMES,
];

/// Number of features.
pub const NUM_FEATURES: usize = total(FAMILIES);

/// Feature names, in row order: the families' names, concatenated.
pub const FEATURE_NAMES: [&str; NUM_FEATURES] = concat(FAMILIES);

/// The session-level part, computed once per session.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SessionFeatures([f32; SESSION_NAMES.len()]);

impl SessionFeatures {
    /// The session family of `ctx`.
    pub fn new(ctx: &SessionContext<'_>) -> Self {
        SessionFeatures(session_values(ctx))
    }
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

/// Appends the features of `candidate` to `row` (exactly [`NUM_FEATURES`] values), family
/// by family in [`FEATURE_NAMES`] order.
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
    row.extend_from_slice(&session_item_values(ctx, aid));
    row.extend_from_slice(&item_values(index, aid));
    registry::write_features(&ctx.sources, &ctx.scorers, candidate, row);
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
            }),
            sessions: None,
            // Next-item model in 2-D: inputs 1 = (1, 0), 2 = (0, 1); 7's output (2, 4).
            next_item: Some(NextItemModel::from_rows(
                2,
                vec![
                    0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                ],
                vec![
                    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 4.0,
                ],
            )),
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
        let cands = candidates(&ctx, &config);
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
    fn names_are_unique() {
        let mut sorted = FEATURE_NAMES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), NUM_FEATURES);
    }
}
