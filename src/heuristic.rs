//! The "Candidate ReRank" baseline of the OTTO competition (docs/architecture.md, "The competition's rules"), exactly: the
//! fallback when no ranker is loaded and the reference a ranker must beat.
//!
//! For clicks and for buys (one list serves carts and orders): a session with at least 20
//! distinct aids is re-ranked by a recency- and type-weighted score of its own events
//! (buys add 0.1 per occurrence in the buy2buy lists of its carted/ordered aids); a shorter
//! session gets its history, newest first, then the aids most frequent in the co-visitation
//! lists of that history, then popular items.
//!
//! Scores: in the long-session branch, the weighted counts themselves; in the short branch,
//! which is a ranking without weights, `n − position` for a list of length n. One deviation
//! from the published notebook: the popular fill skips aids already in the list, so the
//! result never holds duplicates.

use crate::counter::Counter;
use crate::domain::{
    BUYS_RECENCY, CLICKS_RECENCY, EventType, Recommendation, Session, unique_newest_first,
    weighted_history,
};
use crate::index::{Index, TableKind};

/// Distinct aids at or above which the history alone is re-ranked.
pub const LONG_SESSION: usize = 20;
/// Bonus per occurrence in the buy2buy lists of the session's buys.
pub const BUY2BUY_BONUS: f64 = 0.1;

/// The heuristic list for one objective (carts and orders share one list).
pub fn recommend(
    index: &Index,
    session: Session<'_>,
    objective: EventType,
    k: usize,
) -> Recommendation {
    let (unique, unique_buys) = unique_newest_first(session);
    let mut counter = Counter::new();
    let mut out = Recommendation::default();
    let clicks = objective == EventType::Click;
    if unique.len() >= LONG_SESSION {
        weighted_history(
            session,
            if clicks { CLICKS_RECENCY } else { BUYS_RECENCY },
            |aid, w| counter.add(aid, w),
        );
        if !clicks {
            for &aid in &unique_buys {
                for &n in index.table(TableKind::Buy2Buy).neighbors(aid) {
                    counter.add(n, BUY2BUY_BONUS);
                }
            }
        }
        for (aid, score) in counter.most_common(k) {
            out.push(aid, score as f32);
        }
        return out;
    }

    let mut list: Vec<u32> = unique.iter().copied().take(k).collect();
    if clicks {
        for &aid in &unique {
            for &n in index.table(TableKind::Clicks).neighbors(aid) {
                counter.add(n, 1.0);
            }
        }
    } else {
        for &aid in &unique {
            for &n in index.table(TableKind::CartsOrders).neighbors(aid) {
                counter.add(n, 1.0);
            }
        }
        for &aid in &unique_buys {
            for &n in index.table(TableKind::Buy2Buy).neighbors(aid) {
                counter.add(n, 1.0);
            }
        }
    }
    let room = k.saturating_sub(list.len());
    list.extend(
        counter
            .most_common(k.max(LONG_SESSION))
            .into_iter()
            .map(|(aid, _)| aid)
            .filter(|aid| !unique.contains(aid))
            .take(room),
    );
    for &aid in index.popular.fallback(objective) {
        if list.len() >= k {
            break;
        }
        if !list.contains(&aid) {
            list.push(aid);
        }
    }
    let n = list.len();
    for (position, aid) in list.into_iter().enumerate() {
        out.push(aid, (n - position) as f32);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventType::{Cart, Click, Order};
    use crate::domain::recency_weight;
    use crate::index::{CovisitTable, ItemIds, ItemStats, Popular};

    /// A hand-built index: clicks table 1 -> [10, 11], 2 -> [11, 12]; carts_orders
    /// 1 -> [20], 2 -> [20, 21]; buy2buy 2 -> [30]; popular clicks [90, 10, 91],
    /// popular orders [95, 96].
    fn index() -> Index {
        let table = |rows: &[(u32, &[u32])]| {
            let (mut x, mut y, mut w) = (vec![], vec![], vec![]);
            for &(a, ns) in rows {
                for (r, &n) in ns.iter().enumerate() {
                    x.push(a);
                    y.push(n);
                    w.push(10.0 - r as f32);
                }
            }
            CovisitTable::from_rows(&x, &y, &w).unwrap()
        };
        Index {
            ids: ItemIds::default(),
            tables: [
                table(&[(1, &[10, 11]), (2, &[11, 12])]),
                table(&[(1, &[20]), (2, &[20, 21])]),
                table(&[(2, &[30])]),
                CovisitTable::default(),
                CovisitTable::default(),
            ],
            stats: ItemStats::default(),
            popular: Popular {
                by_type: [vec![90, 10, 91], vec![], vec![95, 96]],
            },
            embeddings: None,
            sessions: None,
            next_item: None,
        }
    }

    fn session<'a>(aids: &'a [u32], ts: &'a [u32], types: &'a [EventType]) -> Session<'a> {
        Session::new(aids, ts, types)
    }

    #[test]
    fn short_session_clicks_history_then_neighbours_then_popular() {
        let (aids, ts, types) = ([1, 2, 1], [1, 2, 3], [Click, Click, Click]);
        let rec = recommend(&index(), session(&aids, &ts, &types), Click, 6);
        // unique newest first: [1, 2]; neighbours of 1 then 2: 10, 11, 11, 12 -> 11 (2), 10, 12;
        // then popular clicks without repeats: 90 (10 is already in).
        assert_eq!(rec.aids, vec![1, 2, 11, 10, 12, 90]);
        assert_eq!(rec.scores, vec![6.0, 5.0, 4.0, 3.0, 2.0, 1.0]);
    }

    #[test]
    fn short_session_buys_use_carts_orders_then_buy2buy_of_buys() {
        let (aids, ts, types) = ([2, 1], [1, 2], [Cart, Click]);
        let rec = recommend(&index(), session(&aids, &ts, &types), Order, 7);
        // unique [1, 2]; carts_orders of 1, 2: 20, 20, 21; buy2buy of buys [2]: 30.
        assert_eq!(rec.aids, vec![1, 2, 20, 21, 30, 95, 96]);
        assert_eq!(
            recommend(&index(), session(&aids, &ts, &types), Cart, 7),
            rec
        );
    }

    #[test]
    fn session_without_buys_gets_no_buy2buy_neighbours() {
        let (aids, ts, types) = ([2], [1], [Click]);
        let rec = recommend(&index(), session(&aids, &ts, &types), Order, 20);
        assert_eq!(rec.aids, vec![2, 20, 21, 95, 96]);
    }

    #[test]
    fn unknown_aids_still_get_popular_items() {
        let (aids, ts, types) = ([777], [1], [Click]);
        let rec = recommend(&index(), session(&aids, &ts, &types), Click, 3);
        assert_eq!(rec.aids, vec![777, 90, 10]);
    }

    #[test]
    fn long_session_is_reranked_by_weighted_history() {
        // 20 distinct aids clicked once (100..119), then aid 105 carted last.
        let mut aids: Vec<u32> = (100..120).collect();
        aids.push(105);
        let ts: Vec<u32> = (0..21).collect();
        let mut types = vec![Click; 20];
        types.push(Cart);
        let s = session(&aids, &ts, &types);
        let rec = recommend(&index(), s, Click, 3);
        let w = |i: usize| recency_weight(i, 21, CLICKS_RECENCY);
        // 105: click at i=5 plus a cart (weight 6) at i=20 (2^1 − 1 = 1).
        assert_eq!(rec.aids, vec![105, 119, 118]);
        assert_eq!(rec.scores[0], (w(5) + 6.0 * w(20)) as f32);
        assert_eq!(rec.scores[1], w(19) as f32);
        assert!((w(20) - 1.0).abs() < 1e-12 && (w(0) - (0.1f64.exp2() - 1.0)).abs() < 1e-12);
    }

    #[test]
    fn long_session_buys_add_buy2buy_bonus() {
        let mut aids: Vec<u32> = (100..119).collect();
        aids.push(2); // carted: its buy2buy neighbour 30 gets +0.1
        let ts: Vec<u32> = (0..20).collect();
        let mut types = vec![Click; 19];
        types.push(Cart);
        // The oldest event weighs 2^0.5 − 1 ≈ 0.41 > 0.1, so 30 comes 21st.
        let rec = recommend(&index(), session(&aids, &ts, &types), Order, 21);
        assert_eq!(rec.aids[0], 2);
        assert_eq!(*rec.aids.last().unwrap(), 30);
        assert_eq!(*rec.scores.last().unwrap(), 0.1);
        assert_eq!(rec.len(), 21);
        assert!(
            !recommend(&index(), session(&aids, &ts, &types), Order, 20)
                .aids
                .contains(&30)
        );
    }
}
