//! The official OTTO local-validation split (design.md §1): the last `days` form the test
//! period; sessions starting in it are test sessions, cut at a seeded random point, with
//! labels from what follows the cut; earlier sessions are trimmed to before the period.

use super::labels::SessionLabels;
use super::{Session, SessionLog};
use crate::rng::Rng;

/// Seconds in a day.
pub const DAY: u32 = 86_400;

/// Parameters of the split.
#[derive(Clone, Copy, Debug)]
pub struct SplitConfig {
    /// Length of the test period in days (default 7, as in the competition).
    pub days: u32,
    /// Seed of the cut points.
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig { days: 7, seed: 42 }
    }
}

/// The result of a split.
#[derive(Clone, Debug, Default)]
pub struct Split {
    /// Sessions before the test period, trimmed to it, with at least 2 events.
    pub train: SessionLog,
    /// Test sessions cut at their random point (the events before the cut).
    pub test: SessionLog,
    /// One entry per test session, in the same order.
    pub labels: Vec<SessionLabels>,
}

/// Splits `log` by the official rule.
pub fn split(log: &SessionLog, config: SplitConfig) -> Split {
    let mut out = Split::default();
    let Some((_, ts_max)) = log.ts_range() else {
        return out;
    };
    let cutoff = ts_max.saturating_sub(config.days.saturating_mul(DAY));
    let mut test_candidates = Vec::new();
    for (i, session) in log.iter().enumerate() {
        if session.ts[0] >= cutoff {
            test_candidates.push(i);
            continue;
        }
        let keep = session.ts.partition_point(|&t| t < cutoff);
        if keep >= 2 {
            out.train.push_session(
                session.id,
                &session.aids[..keep],
                &session.ts[..keep],
                &session.types[..keep],
            );
        }
    }

    let mut in_train = vec![false; log.aid_bound()];
    for &aid in &out.train.aids {
        in_train[aid as usize] = true;
    }
    let mut rng = Rng::new(config.seed);
    let (mut aids, mut ts, mut types) = (Vec::new(), Vec::new(), Vec::new());
    for i in test_candidates {
        let session = log.session(i);
        aids.clear();
        ts.clear();
        types.clear();
        for e in 0..session.len() {
            if in_train[session.aids[e] as usize] {
                aids.push(session.aids[e]);
                ts.push(session.ts[e]);
                types.push(session.types[e]);
            }
        }
        let n = aids.len();
        if n < 2 {
            continue;
        }
        let kept = 1 + rng.below(n as u64 - 1) as usize;
        let full = Session {
            id: session.id,
            aids: &aids,
            ts: &ts,
            types: &types,
        };
        out.labels.push(SessionLabels::after(full, kept));
        out.test
            .push_session(session.id, &aids[..kept], &ts[..kept], &types[..kept]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::EventType::{self, Cart, Click, Order};

    /// The labeled session of the OTTO dataset documentation: clicks on 0..4, carts of 2
    /// and 3, orders of 2 and 3 (both orders at one timestamp).
    fn documented_session() -> (Vec<u32>, Vec<u32>, Vec<EventType>) {
        let events = [
            (0, 1_661_200_010, Click),
            (1, 1_661_200_020, Click),
            (2, 1_661_200_030, Click),
            (2, 1_661_200_040, Cart),
            (3, 1_661_200_050, Click),
            (3, 1_661_200_060, Cart),
            (4, 1_661_200_070, Click),
            (2, 1_661_200_080, Order),
            (3, 1_661_200_080, Order),
        ];
        (
            events.iter().map(|e| e.0).collect(),
            events.iter().map(|e| e.1).collect(),
            events.iter().map(|e| e.2).collect(),
        )
    }

    fn labels(clicks: Option<u32>, carts: &[u32], orders: &[u32]) -> SessionLabels {
        SessionLabels {
            session: 0,
            clicks,
            carts: carts.to_vec(),
            orders: orders.to_vec(),
        }
    }

    #[test]
    fn labels_after_each_cut_match_the_otto_documentation() {
        let (aids, ts, types) = documented_session();
        let session = Session {
            id: 0,
            aids: &aids,
            ts: &ts,
            types: &types,
        };
        let expected = [
            labels(Some(1), &[2, 3], &[2, 3]),
            labels(Some(2), &[2, 3], &[2, 3]),
            labels(Some(3), &[2, 3], &[2, 3]),
            labels(Some(3), &[3], &[2, 3]),
            labels(Some(4), &[3], &[2, 3]),
            labels(Some(4), &[], &[2, 3]),
            labels(None, &[], &[2, 3]),
            labels(None, &[], &[3]),
        ];
        for (kept, want) in (1..aids.len()).zip(expected) {
            assert_eq!(
                SessionLabels::after(session, kept),
                want,
                "cut after {kept} events"
            );
        }
    }

    fn world() -> SessionLog {
        let mut log = SessionLog::new();
        let t0 = 1_659_304_800;
        // Train-only session, entirely before the test period.
        log.push_session(
            1,
            &[10, 11, 12],
            &[t0, t0 + 60, t0 + 120],
            &[Click, Click, Cart],
        );
        // Crosses into the test period: trimmed to its first two events.
        let late = t0 + 19 * DAY;
        log.push_session(
            2,
            &[11, 13, 14],
            &[late, late + 60, t0 + 27 * DAY],
            &[Click, Click, Click],
        );
        // Starts in the test period: aid 99 never occurs in train and is dropped.
        let test = t0 + 22 * DAY;
        log.push_session(
            3,
            &[10, 99, 11, 12],
            &[test, test + 1, test + 2, test + 3],
            &[Click, Click, Cart, Order],
        );
        // Starts in the test period, only one known aid: dropped.
        log.push_session(4, &[98, 10], &[test, test + 5], &[Click, Click]);
        log
    }

    #[test]
    fn train_is_trimmed_to_before_the_test_period() {
        let split = split(&world(), SplitConfig { days: 7, seed: 1 });
        assert_eq!(split.train.session_ids, vec![1, 2]);
        assert_eq!(split.train.session(1).aids, &[11, 13]);
        let cutoff = world().ts_range().unwrap().1 - 7 * DAY;
        assert!(split.train.ts.iter().all(|&t| t < cutoff));
    }

    #[test]
    fn test_sessions_never_appear_in_train_and_only_hold_train_items() {
        let split = split(&world(), SplitConfig { days: 7, seed: 1 });
        assert_eq!(split.test.session_ids, vec![3]);
        assert!(split.test.aids.iter().all(|a| split.train.aids.contains(a)));
        assert!(!split.train.session_ids.contains(&3));
        let labels = &split.labels[0];
        let kept = split.test.session(0).len();
        assert!((1..3).contains(&kept));
        let all = [10u32, 11, 12];
        let rest_orders: Vec<u32> = vec![12];
        assert_eq!(labels.orders, rest_orders);
        assert_eq!(split.test.session(0).aids, &all[..kept]);
    }

    #[test]
    fn same_seed_gives_the_same_cuts() {
        let a = split(&world(), SplitConfig { days: 7, seed: 9 });
        let b = split(&world(), SplitConfig { days: 7, seed: 9 });
        assert_eq!(a.test, b.test);
        assert_eq!(a.labels, b.labels);
    }
}
