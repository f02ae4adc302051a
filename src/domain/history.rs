//! What a session's history says about its items: its distinct aids newest first and the
//! recency- and type-weighted score of each, as the "Candidate ReRank" baseline defines
//! them. The heuristic, the candidates and the features all read them.

use super::{EVENT_TYPE_WEIGHTS, EventType, Session};

/// Exponent range of the clicks recency weight `2^(lo + (hi − lo)·i/(n−1)) − 1`.
pub const CLICKS_RECENCY: (f64, f64) = (0.1, 1.0);
/// Exponent range of the buys (carts and orders) recency weight.
pub const BUYS_RECENCY: (f64, f64) = (0.5, 1.0);

/// The session's aids newest first, without repeats; and the same for carts and orders.
pub fn unique_newest_first(session: Session<'_>) -> (Vec<u32>, Vec<u32>) {
    let mut all = Vec::with_capacity(session.len());
    let mut buys = Vec::new();
    for i in (0..session.len()).rev() {
        let aid = session.aids[i];
        if !all.contains(&aid) {
            all.push(aid);
        }
        if session.types[i] != EventType::Click && !buys.contains(&aid) {
            buys.push(aid);
        }
    }
    (all, buys)
}

/// `2^(lo + (hi − lo)·i/(n−1)) − 1` for event `i` of `n` (0 oldest): numpy's
/// `logspace(lo, hi, n, base=2) − 1`.
pub fn recency_weight(i: usize, n: usize, (lo, hi): (f64, f64)) -> f64 {
    let exponent = if n > 1 {
        lo + (hi - lo) * i as f64 / (n - 1) as f64
    } else {
        lo
    };
    exponent.exp2() - 1.0
}

/// Calls `add(aid, weight)` for every event with its recency weight × type weight, oldest
/// first.
pub fn weighted_history(session: Session<'_>, range: (f64, f64), mut add: impl FnMut(u32, f64)) {
    let n = session.len();
    for i in 0..n {
        let w = recency_weight(i, n, range) * EVENT_TYPE_WEIGHTS[session.types[i].index()] as f64;
        add(session.aids[i], w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventType::{Cart, Click, Order};

    #[test]
    fn distinct_aids_newest_first_and_buys_apart() {
        let (aids, ts, types) = (
            [1, 2, 1, 3, 2],
            [1, 2, 3, 4, 5],
            [Click, Cart, Click, Order, Click],
        );
        let (all, buys) = unique_newest_first(Session::new(&aids, &ts, &types));
        assert_eq!(all, vec![2, 3, 1]);
        assert_eq!(buys, vec![3, 2]);
    }

    #[test]
    fn recency_weights_span_the_exponent_range() {
        assert!((recency_weight(0, 5, BUYS_RECENCY) - (0.5f64.exp2() - 1.0)).abs() < 1e-15);
        assert_eq!(recency_weight(4, 5, BUYS_RECENCY), 1.0);
        assert!((recency_weight(0, 1, CLICKS_RECENCY) - (0.1f64.exp2() - 1.0)).abs() < 1e-15);
    }
}
