//! The official OTTO local-validation split (otto-de/recsys-dataset's
//! `testset.py`), exactly: with `split = max_ts − days` (in milliseconds), sessions whose
//! first event is strictly after `split` are test sessions; earlier sessions keep their
//! events strictly before `split` and stay if at least 2 remain. Test events on items that
//! never occur in train are dropped, test sessions under 2 events are dropped, and each is
//! cut at a seeded random point, with labels from what follows the cut.

use crate::domain::{DAY, Session, SessionLabels, SessionLog, distinct_aids};
use crate::rng::Rng;

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
    /// The test sessions whole (items unseen in train dropped), in the same order: other
    /// cuts of them label more training examples ([`more_cuts`]).
    pub whole: SessionLog,
}

/// Splits `log` by the official rule.
pub fn split(log: &SessionLog, config: SplitConfig) -> Split {
    let mut out = Split::default();
    let Some(last) = log.last_timestamp() else {
        return out;
    };
    let cutoff = last
        .as_millis()
        .saturating_sub(config.days as u64 * DAY as u64 * 1000);
    let mut test_candidates = Vec::new();
    for (i, session) in log.iter().enumerate() {
        if session.timestamp(0).as_millis() > cutoff {
            test_candidates.push(i);
            continue;
        }
        let keep = (0..session.len())
            .take_while(|&e| session.timestamp(e).as_millis() < cutoff)
            .count();
        if keep >= 2 {
            out.train.push(session.head(keep));
        }
    }

    // Sorted distinct train aids: memory follows the items, not the largest id.
    let in_train = distinct_aids(&out.train.aids);
    let mut rng = Rng::new(config.seed);
    let (mut aids, mut ts, mut millis, mut types) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in test_candidates {
        let session = log.session(i);
        aids.clear();
        ts.clear();
        millis.clear();
        types.clear();
        for e in 0..session.len() {
            if in_train.binary_search(&session.aids[e]).is_ok() {
                aids.push(session.aids[e]);
                ts.push(session.ts[e]);
                millis.push(session.timestamp(e).millis);
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
            millis: &millis,
            types: &types,
        };
        out.labels.push(SessionLabels::after(full, kept));
        out.test.push(full.head(kept));
        out.whole.push(full);
    }
    out
}

/// More cuts of the test sessions `chosen` (indices into `split`): for each, up to
/// `extra` cut points besides the split's own, drawn by `seed` without repeats (all of
/// them when the session has no more), each a session with the labels of what follows it.
pub fn more_cuts(
    split: &Split,
    chosen: impl Iterator<Item = usize>,
    extra: usize,
    seed: u64,
) -> (SessionLog, Vec<SessionLabels>) {
    let mut rng = Rng::new(seed);
    let (mut sessions, mut labels) = (SessionLog::new(), Vec::new());
    let mut points = Vec::new();
    for i in chosen {
        let whole = split.whole.session(i);
        let own = split.test.session(i).len();
        points.clear();
        points.extend((1..whole.len()).filter(|&k| k != own));
        // A partial Fisher-Yates shuffle: the first `extra` points, uniformly drawn.
        let take = extra.min(points.len());
        for j in 0..take {
            let pick = j + rng.below((points.len() - j) as u64) as usize;
            points.swap(j, pick);
        }
        for &kept in &points[..take] {
            labels.push(SessionLabels::after(whole, kept));
            sessions.push(whole.head(kept));
        }
    }
    (sessions, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventType::{Cart, Click, Order};

    #[test]
    fn more_cuts_are_other_points_of_the_whole_session_with_their_labels() {
        let split = split(&world(), SplitConfig { days: 7, seed: 1 });
        assert_eq!(split.whole.len(), split.test.len());
        // Session 3 kept 10, 11, 12 (99 dropped): cuts 1 and 2, one of them the split's.
        let own = split.test.session(0).len();
        let (sessions, labels) = more_cuts(&split, 0..1, 5, 3);
        assert_eq!(sessions.len(), 1, "the one other point");
        let kept = sessions.session(0).len();
        assert_ne!(kept, own);
        assert_eq!(sessions.session(0).aids, &[10, 11, 12][..kept]);
        assert_eq!(
            labels[0],
            SessionLabels::after(split.whole.session(0), kept)
        );
        assert_eq!(more_cuts(&split, 0..1, 0, 3).0.len(), 0);
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
        let labels = &split.labels[0];
        let kept = split.test.session(0).len();
        assert!((1..3).contains(&kept));
        assert_eq!(labels.orders, vec![12]);
        assert_eq!(split.test.session(0).aids, &[10, 11, 12][..kept]);
    }

    #[test]
    fn same_seed_gives_the_same_cuts() {
        let a = split(&world(), SplitConfig { days: 7, seed: 9 });
        let b = split(&world(), SplitConfig { days: 7, seed: 9 });
        assert_eq!(a.test, b.test);
        assert_eq!(a.labels, b.labels);
    }

    /// The boundary in milliseconds, as `testset.py` draws it: the last event is at
    /// T + 0.500 s, so the split time is S + 0.500 s with S = T − 7 days. A session
    /// starting 1 ms after it is a test session; one starting exactly at it is not (and,
    /// with nothing before it, is not a train session either); a train session keeps only
    /// its events strictly before it. Rounded to seconds, all three start in second S.
    #[test]
    fn the_test_period_starts_strictly_after_the_split_time_in_milliseconds() {
        let t = 1_661_000_000u32;
        let s = t - 7 * DAY;
        let mut log = SessionLog::new();
        log.push_session(1, &[1, 2, 3], &[s - 100, s - 90, s - 80], &[Click; 3]);
        // Events at S − 1.000, S − 0.001 and S + 0.500: the last is not kept.
        log.push_session_millis(
            2,
            &[1, 2, 3],
            &[s - 1, s - 1, s],
            &[0, 999, 500],
            &[Click; 3],
        );
        // Starts at S + 0.501: a test session.
        log.push_session_millis(3, &[1, 2, 3], &[s, s + 5, t], &[501, 0, 500], &[Click; 3]);
        // Starts at S + 0.500 exactly: neither.
        log.push_session_millis(4, &[1, 2], &[s, s + 1], &[500, 0], &[Click; 2]);
        let split = split(&log, SplitConfig { days: 7, seed: 3 });
        assert_eq!(split.test.session_ids, vec![3]);
        assert_eq!(split.train.session_ids, vec![1, 2]);
        assert_eq!(split.train.session(1).millis, &[0, 999]);
        assert_eq!(
            split.test.session(0).timestamp(0).millis,
            501,
            "milliseconds are kept"
        );
    }
}
