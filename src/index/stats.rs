//! Per-item statistics (counts by type, overall and in the most recent days) and the most
//! popular items per type: the fallback candidates and the item features of the ranker.

use super::prefetch;
use crate::domain::{DAY, EventType, SessionLog, weekday};

/// What the statistics hold of one aid, on one cache line: a feature row reads all of it,
/// and at Kaggle scale (1.86M aids) every read of a separate per-field array would be a
/// trip to memory of its own.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C, align(64))]
pub struct ItemRecord {
    /// Events by type (click, cart, order) over the whole input.
    pub counts: [u32; 3],
    /// Events by type in the last `recent_days` of the input.
    pub recent: [u32; 3],
    /// Events by type in the last day of the input.
    pub last_day: [u32; 3],
    /// Distinct sessions the aid occurs in.
    pub sessions: u32,
    /// Sessions in which the aid occurs more than once.
    pub repeat_sessions: u32,
    /// Share of the aid's events on Saturday or Sunday (UTC).
    pub weekend_share: f32,
    /// Mean hour of day (UTC) of the aid's events, as a fraction of the day (0..1).
    pub mean_hour: f32,
}

/// Statistics per aid; an aid beyond them is unknown (all zero).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemStats {
    /// Indexed by aid.
    pub items: Vec<ItemRecord>,
    /// Σ counts by type and Σ sessions over all aids (derived; see [`totals`](Self::totals)).
    pub totals: [u64; 4],
}

impl ItemStats {
    /// Counts over `log`; "recent" is the last `recent_days` before its largest timestamp.
    pub fn from_log(log: &SessionLog, recent_days: u32) -> Self {
        let n = log.aid_bound();
        let mut stats = ItemStats {
            items: vec![ItemRecord::default(); n],
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
                stats.items[aid].counts[kind.index()] += 1;
                if ts >= recent_from {
                    stats.items[aid].recent[kind.index()] += 1;
                }
                if ts >= day_from {
                    stats.items[aid].last_day[kind.index()] += 1;
                }
                let seen = &mut last_session[aid];
                if seen.0 != s as u32 {
                    *seen = (s as u32, 1);
                    stats.items[aid].sessions += 1;
                } else {
                    seen.1 += 1;
                    if seen.1 == 2 {
                        stats.items[aid].repeat_sessions += 1;
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
            let total: u32 = stats.items[aid].counts.iter().sum();
            if total > 0 {
                stats.items[aid].weekend_share = weekend[aid] as f32 / total as f32;
                stats.items[aid].mean_hour = (hours[aid] / total as f64) as f32;
            }
        }
        stats
    }

    /// Starts loading everything these statistics hold of `aid` (what a feature row
    /// reads): its record's cache line. At Kaggle scale the records are over 100 MB, far
    /// beyond the caches, so every read is a trip to memory; prefetching the aids of all
    /// candidates before reading any lets those trips overlap. A hint only: it changes no
    /// value.
    #[inline]
    pub fn prefetch(&self, aid: u32) {
        let a = aid as usize;
        if a >= self.aid_bound() {
            return;
        }
        prefetch(&self.items[a]);
    }

    /// Σ counts by type and Σ sessions over all aids.
    pub fn compute_totals(&self) -> [u64; 4] {
        let mut t = [0u64; 4];
        for item in &self.items {
            for (total, &count) in t.iter_mut().zip(&item.counts) {
                *total += count as u64;
            }
            t[3] += item.sessions as u64;
        }
        t
    }

    /// Events of `aid` by type per million events of that type, and its sessions per
    /// million (aid, session) occurrences: counts that keep their scale whatever the span
    /// of the index (a serving index over more weeks than the training one).
    pub fn rates(&self, aid: u32) -> [f32; 4] {
        let c = self.counts(aid);
        let s = self.get(aid).map_or(0, |r| r.sessions);
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
        self.items.len()
    }

    /// Everything the statistics hold of `aid`, if it is known.
    pub fn get(&self, aid: u32) -> Option<&ItemRecord> {
        self.items.get(aid as usize)
    }

    /// Counts by type of `aid` (zero for an unknown aid).
    pub fn counts(&self, aid: u32) -> [u32; 3] {
        self.get(aid).map_or([0; 3], |r| r.counts)
    }

    /// Recent counts by type of `aid`.
    pub fn recent(&self, aid: u32) -> [u32; 3] {
        self.get(aid).map_or([0; 3], |r| r.recent)
    }

    /// Counts by type of `aid` in the last day.
    pub fn last_day(&self, aid: u32) -> [u32; 3] {
        self.get(aid).map_or([0; 3], |r| r.last_day)
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
                .filter(|&a| stats.items[a as usize].counts[t] > 0)
                .collect();
            let key = |a: &u32| {
                let a = *a as usize;
                (
                    std::cmp::Reverse(stats.items[a].recent[t]),
                    std::cmp::Reverse(stats.items[a].counts[t]),
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
    /// clicks, popular orders for carts and orders (as in the baseline). A log without
    /// orders falls back to its popular carts, one of clicks only to its popular clicks.
    pub fn fallback(&self, objective: EventType) -> &[u32] {
        let preference: &[EventType] = match objective {
            EventType::Click => &[EventType::Click],
            _ => &[EventType::Order, EventType::Cart, EventType::Click],
        };
        preference
            .iter()
            .map(|&kind| self.of(kind))
            .find(|list| !list.is_empty())
            .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventType::{Cart, Click, Order};

    #[test]
    fn buys_fall_back_to_the_most_valuable_popular_list_the_log_has() {
        let mut popular = Popular {
            by_type: [vec![1, 2], vec![3], vec![4]],
        };
        assert_eq!(popular.fallback(Click), &[1, 2]);
        assert_eq!(popular.fallback(Cart), &[4]);
        popular.by_type[2].clear();
        assert_eq!(popular.fallback(Order), &[3], "no orders: popular carts");
        popular.by_type[1].clear();
        assert_eq!(
            popular.fallback(Cart),
            &[1, 2],
            "clicks only: popular clicks"
        );
    }

    /// A candidate's statistics are one cache line: a field added beyond it would double
    /// the memory a feature row waits for.
    #[test]
    fn an_item_record_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<ItemRecord>(), 64);
        assert_eq!(std::mem::align_of::<ItemRecord>(), 64);
        let stats = ItemStats {
            items: vec![ItemRecord::default(); 3],
            totals: [0; 4],
        };
        assert_eq!(stats.items.as_ptr() as usize % 64, 0);
    }

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
        assert_eq!(stats.items[2].sessions, 2);
        assert_eq!(
            stats.items[1].repeat_sessions, 1,
            "1 occurs twice in session 1"
        );
        assert_eq!(stats.items[2].repeat_sessions, 0);
        assert_eq!(stats.last_day(3), [0, 0, 1]);
        assert_eq!(stats.last_day(1), [0, 0, 0]);
        assert_eq!(stats.counts(99), [0, 0, 0]);
        assert_eq!(weekday(t), 6);
        assert_eq!(stats.items[1].weekend_share, 1.0);

        let popular = Popular::from_stats(&stats, 10);
        // Clicks: 2 has a recent click, 1 only an old one.
        assert_eq!(popular.of(Click), &[2, 1]);
        assert_eq!(popular.of(Cart), &[1]);
        assert_eq!(popular.of(Order), &[3]);
    }
}
