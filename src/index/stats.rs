//! Per-item statistics (counts by type, overall and in the most recent days) and the most
//! popular items per type: the fallback candidates and the item features of the ranker.

use super::prefetch;
use crate::domain::{DAY, EventType, SessionLog, weekday};

/// Counts per aid; an aid beyond the vectors is unknown (all zero).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemStats {
    /// Events by type (click, cart, order) over the whole input.
    pub counts: Vec<[u32; 3]>,
    /// Events by type in the last `recent_days` of the input.
    pub recent: Vec<[u32; 3]>,
    /// Events by type in the last day of the input.
    pub last_day: Vec<[u32; 3]>,
    /// Distinct sessions the aid occurs in.
    pub sessions: Vec<u32>,
    /// Sessions in which the aid occurs more than once.
    pub repeat_sessions: Vec<u32>,
    /// Share of the aid's events on Saturday or Sunday (UTC).
    pub weekend_share: Vec<f32>,
    /// Mean hour of day (UTC) of the aid's events, as a fraction of the day (0..1).
    pub mean_hour: Vec<f32>,
    /// Σ counts by type and Σ sessions over all aids (derived; see [`totals`](Self::totals)).
    pub totals: [u64; 4],
}

impl ItemStats {
    /// Counts over `log`; "recent" is the last `recent_days` before its largest timestamp.
    pub fn from_log(log: &SessionLog, recent_days: u32) -> Self {
        let n = log.aid_bound();
        let mut stats = ItemStats {
            counts: vec![[0; 3]; n],
            recent: vec![[0; 3]; n],
            last_day: vec![[0; 3]; n],
            sessions: vec![0; n],
            repeat_sessions: vec![0; n],
            weekend_share: vec![0.0; n],
            mean_hour: vec![0.0; n],
            totals: [0; 4],
        };
        let Some((_, ts_max)) = log.ts_range() else {
            return stats;
        };
        let recent_from = ts_max.saturating_sub(recent_days.saturating_mul(DAY));
        let day_from = ts_max.saturating_sub(DAY);
        let mut weekend = vec![0u32; n];
        let mut hours = vec![0f64; n];
        // The last session an aid was seen in, and how often in it.
        let mut last_session = vec![(u32::MAX, 0u32); n];
        for (s, session) in log.iter().enumerate() {
            for i in 0..session.len() {
                let (aid, ts, kind) = (session.aids[i] as usize, session.ts[i], session.types[i]);
                stats.counts[aid][kind.index()] += 1;
                if ts >= recent_from {
                    stats.recent[aid][kind.index()] += 1;
                }
                if ts >= day_from {
                    stats.last_day[aid][kind.index()] += 1;
                }
                let seen = &mut last_session[aid];
                if seen.0 != s as u32 {
                    *seen = (s as u32, 1);
                    stats.sessions[aid] += 1;
                } else {
                    seen.1 += 1;
                    if seen.1 == 2 {
                        stats.repeat_sessions[aid] += 1;
                    }
                }
                if weekday(ts) >= 5 {
                    weekend[aid] += 1;
                }
                hours[aid] += (ts % DAY) as f64 / DAY as f64;
            }
        }
        stats.totals = stats.compute_totals();
        for aid in 0..n {
            let total: u32 = stats.counts[aid].iter().sum();
            if total > 0 {
                stats.weekend_share[aid] = weekend[aid] as f32 / total as f32;
                stats.mean_hour[aid] = (hours[aid] / total as f64) as f32;
            }
        }
        stats
    }

    /// Starts loading everything these statistics hold of `aid` (what a feature row
    /// reads). At Kaggle scale each array is tens of MB, far beyond the caches, so every
    /// read is a trip to memory; prefetching the aids of all candidates before reading any
    /// lets those trips overlap. A hint only: it changes no value.
    #[inline]
    pub fn prefetch(&self, aid: u32) {
        let a = aid as usize;
        if a >= self.aid_bound() {
            return;
        }
        prefetch(&self.counts[a]);
        prefetch(&self.recent[a]);
        prefetch(&self.last_day[a]);
        prefetch(&self.sessions[a]);
        prefetch(&self.repeat_sessions[a]);
        prefetch(&self.weekend_share[a]);
        prefetch(&self.mean_hour[a]);
    }

    /// Σ counts by type and Σ sessions over all aids.
    pub fn compute_totals(&self) -> [u64; 4] {
        let mut t = [0u64; 4];
        for c in &self.counts {
            for k in 0..3 {
                t[k] += c[k] as u64;
            }
        }
        t[3] = self.sessions.iter().map(|&s| s as u64).sum();
        t
    }

    /// Events of `aid` by type per million events of that type, and its sessions per
    /// million (aid, session) occurrences: counts that keep their scale whatever the span
    /// of the index (a serving index over more weeks than the training one).
    pub fn rates(&self, aid: u32) -> [f32; 4] {
        let c = self.counts(aid);
        let s = self.sessions.get(aid as usize).copied().unwrap_or(0);
        let rate = |n: u32, total: u64| (n as f64 * 1e6 / total.max(1) as f64) as f32;
        [
            rate(c[0], self.totals[0]),
            rate(c[1], self.totals[1]),
            rate(c[2], self.totals[2]),
            rate(s, self.totals[3]),
        ]
    }

    /// One past the largest aid with statistics.
    pub fn aid_bound(&self) -> usize {
        self.counts.len()
    }

    /// Counts by type of `aid` (zero for an unknown aid).
    pub fn counts(&self, aid: u32) -> [u32; 3] {
        self.counts.get(aid as usize).copied().unwrap_or_default()
    }

    /// Recent counts by type of `aid`.
    pub fn recent(&self, aid: u32) -> [u32; 3] {
        self.recent.get(aid as usize).copied().unwrap_or_default()
    }

    /// Counts by type of `aid` in the last day.
    pub fn last_day(&self, aid: u32) -> [u32; 3] {
        self.last_day.get(aid as usize).copied().unwrap_or_default()
    }
}

/// The most popular aids per type, best first: by recent count, then overall count, then
/// smaller aid.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Popular {
    pub by_type: [Vec<u32>; 3],
}

impl Popular {
    /// The `keep` most popular items of each type.
    pub fn from_stats(stats: &ItemStats, keep: usize) -> Self {
        let rank = |kind: EventType| {
            let t = kind.index();
            let mut aids: Vec<u32> = (0..stats.aid_bound() as u32)
                .filter(|&a| stats.counts[a as usize][t] > 0)
                .collect();
            let key = |a: &u32| {
                let a = *a as usize;
                (
                    std::cmp::Reverse(stats.recent[a][t]),
                    std::cmp::Reverse(stats.counts[a][t]),
                    a,
                )
            };
            if aids.len() > keep && keep > 0 {
                aids.select_nth_unstable_by_key(keep - 1, key);
            }
            aids.truncate(keep);
            aids.sort_unstable_by_key(key);
            aids
        };
        Popular {
            by_type: EventType::ALL.map(rank),
        }
    }

    /// The popular aids of one type.
    pub fn of(&self, kind: EventType) -> &[u32] {
        &self.by_type[kind.index()]
    }

    /// The list that fills a short recommendation for `objective`: popular clicks for
    /// clicks, popular orders for carts and orders (as in the baseline).
    pub fn fallback(&self, objective: EventType) -> &[u32] {
        self.of(if objective == EventType::Click {
            EventType::Click
        } else {
            EventType::Order
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventType::{Cart, Click, Order};

    #[test]
    fn counts_recent_counts_and_popularity() {
        let mut log = SessionLog::new();
        let t = 1_659_304_800; // a Sunday, 22:00 UTC
        log.push_session(1, &[1, 2, 1], &[t, t + 1, t + 2], &[Click, Click, Cart]);
        log.push_session(
            2,
            &[2, 3],
            &[t + 10 * DAY, t + 10 * DAY + 1],
            &[Click, Order],
        );
        let stats = ItemStats::from_log(&log, 7);
        assert_eq!(stats.counts(1), [1, 1, 0]);
        assert_eq!(stats.counts(2), [2, 0, 0]);
        assert_eq!(stats.recent(2), [1, 0, 0]);
        assert_eq!(stats.recent(1), [0, 0, 0]);
        assert_eq!(stats.sessions[2], 2);
        assert_eq!(stats.repeat_sessions[1], 1, "1 occurs twice in session 1");
        assert_eq!(stats.repeat_sessions[2], 0);
        assert_eq!(stats.last_day(3), [0, 0, 1]);
        assert_eq!(stats.last_day(1), [0, 0, 0]);
        assert_eq!(stats.counts(99), [0, 0, 0]);
        assert_eq!(weekday(t), 6);
        assert_eq!(stats.weekend_share[1], 1.0);

        let popular = Popular::from_stats(&stats, 10);
        // Clicks: 2 has a recent click, 1 only an old one.
        assert_eq!(popular.of(Click), &[2, 1]);
        assert_eq!(popular.of(Cart), &[1]);
        assert_eq!(popular.of(Order), &[3]);
    }
}
