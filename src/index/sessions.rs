//! Similar past sessions: the session-based k-nearest-neighbours family (V-SKNN, Ludewig &
//! Jannach, "Evaluation of session-based recommendation algorithms", 2018), which matches or
//! beats most neural session models in the field's independent comparisons.
//!
//! The index holds every past session as its most recent distinct items, and for every item
//! the most recent sessions that hold it (posting lists, newest first). Sessions are
//! numbered newest first (by their last event), so "most recent" is "smallest number" and a
//! posting list is ascending.
//!
//! A query (a session's distinct items, newest first) walks the posting lists of its items
//! together, taking the `sample` most recent sessions that share an item with it. Each gets
//! the V-SKNN similarity — the shared items' position weights (linear decay: the newest
//! item 1, the oldest 1/m), over m — and the best `k` are its neighbours. What their items
//! score is the candidates' business ([`crate::candidates`]).

use serde::{Deserialize, Serialize};

use super::{ItemStats, prefetch};
use crate::domain::SessionLog;

/// Parameters of the session index, with their defaults.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionKnnParams {
    /// Most recent sessions listed per item.
    pub sessions_per_item: usize,
    /// Most recent distinct items kept per session.
    pub items_per_session: usize,
}

impl Default for SessionKnnParams {
    fn default() -> Self {
        SessionKnnParams {
            sessions_per_item: 500,
            items_per_session: 30,
        }
    }
}

impl SessionKnnParams {
    /// The same parameters, checked: the field at fault and the problem.
    pub fn validate(self) -> Result<Self, (&'static str, &'static str)> {
        if !(1..=100_000).contains(&self.sessions_per_item) {
            return Err(("sessions_per_item", "must be between 1 and 100000"));
        }
        if !(1..=1_000).contains(&self.items_per_session) {
            return Err(("items_per_session", "must be between 1 and 1000"));
        }
        Ok(self)
    }
}

/// Past sessions by item and items by past session (CSR, offsets and values).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionIndex {
    /// `item_offsets[i]..item_offsets[i + 1]` index `item_sessions`; length = items + 1.
    item_offsets: Vec<u32>,
    /// Per item, its most recent sessions, newest (smallest) first.
    item_sessions: Vec<u32>,
    /// `session_offsets[s]..session_offsets[s + 1]` index `session_items`.
    session_offsets: Vec<u32>,
    /// Per session, its most recent distinct items, newest first.
    session_items: Vec<u32>,
    /// Per item, `ln(past sessions / past sessions with the item)` (derived, see
    /// [`with_idf`](Self::with_idf); 0 until then).
    idf: Vec<f32>,
}

/// A past session similar to the query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbour {
    /// Its number (0: the most recent past session).
    pub session: u32,
    /// V-SKNN similarity: Σ position weight of the shared items / query length.
    pub similarity: f32,
    /// Position (newest first) of the most recent query item it shares.
    pub step: u16,
}

/// Why stored arrays cannot form a session index.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionIndexError {
    #[error("{0}: offsets must start at 0, never decrease and end at the values' length")]
    Offsets(&'static str),
    #[error("item {item}: sessions must be ascending (newest first) and below {sessions}")]
    Postings { item: u32, sessions: u32 },
    #[error("session {session}: an item is not below {items}")]
    Items { session: u32, items: u32 },
    #[error("more than 2^32 values")]
    TooLarge,
}

fn check_offsets(offsets: &[u32], len: usize, what: &'static str) -> Result<(), SessionIndexError> {
    let ok = offsets.first() == Some(&0)
        && offsets.windows(2).all(|w| w[0] <= w[1])
        && offsets.last().map(|&o| o as usize) == Some(len);
    if ok {
        Ok(())
    } else {
        Err(SessionIndexError::Offsets(what))
    }
}

impl SessionIndex {
    /// Indexes the sessions of `log`, whose aids are positions below `items`. Past
    /// sessions beyond 2^32 stored items are left out, oldest first.
    pub fn build(log: &SessionLog, items: usize, params: &SessionKnnParams) -> Self {
        let last_ts = |s: usize| log.session(s).ts.last().copied().unwrap_or(0);
        let mut order: Vec<u32> = (0..log.len() as u32).collect();
        // Newest first; ties keep the log's later session first.
        order.sort_by_key(|&s| std::cmp::Reverse((last_ts(s as usize), s)));

        let mut session_offsets = Vec::with_capacity(order.len() + 1);
        session_offsets.push(0u32);
        let mut session_items: Vec<u32> = Vec::new();
        // stamp[item] = 1 + the session that last listed it, for O(1) de-duplication.
        let mut stamp = vec![0u32; items];
        for (rank, &s) in order.iter().enumerate() {
            let session = log.session(s as usize);
            let mark = rank as u32 + 1;
            let start = session_items.len();
            for &aid in session.aids.iter().rev() {
                let slot = &mut stamp[aid as usize];
                if *slot != mark {
                    *slot = mark;
                    session_items.push(aid);
                    if session_items.len() - start == params.items_per_session {
                        break;
                    }
                }
            }
            if session_items.len() > u32::MAX as usize {
                session_items.truncate(start);
                break;
            }
            session_offsets.push(session_items.len() as u32);
        }
        drop(stamp);
        let sessions = session_offsets.len() - 1;
        let of =
            |s: usize| &session_items[session_offsets[s] as usize..session_offsets[s + 1] as usize];

        // Posting lists: sessions newest first, each list capped.
        let mut counts = vec![0u32; items];
        for s in 0..sessions {
            for &item in of(s) {
                let c = &mut counts[item as usize];
                if (*c as usize) < params.sessions_per_item {
                    *c += 1;
                }
            }
        }
        let mut item_offsets = Vec::with_capacity(items + 1);
        item_offsets.push(0u32);
        let mut total = 0u32;
        for &c in &counts {
            total += c;
            item_offsets.push(total);
        }
        let mut next: Vec<u32> = item_offsets[..items].to_vec();
        let mut item_sessions = vec![0u32; total as usize];
        for s in 0..sessions {
            for &item in of(s) {
                let i = item as usize;
                if next[i] < item_offsets[i + 1] {
                    item_sessions[next[i] as usize] = s as u32;
                    next[i] += 1;
                }
            }
        }
        SessionIndex {
            item_offsets,
            item_sessions,
            session_offsets,
            session_items,
            idf: Vec::new(),
        }
    }

    /// The same index with each item's IDF, from the sessions `stats` count it in.
    pub fn with_idf(mut self, stats: &ItemStats) -> Self {
        let n = self.num_sessions().max(1) as f32;
        self.idf = (0..self.num_items() as u32)
            .map(|i| {
                let with = stats.get(i).map_or(0, |r| r.sessions).max(1) as f32;
                (n / with).ln().max(0.0)
            })
            .collect();
        self
    }

    /// The IDF of `item` (0 for an unknown one).
    #[inline]
    pub fn idf(&self, item: u32) -> f32 {
        self.idf.get(item as usize).copied().unwrap_or(0.0)
    }

    /// An index from its four arrays (as [`parts`](Self::parts) gives them), checked.
    pub fn from_parts(
        item_offsets: Vec<u32>,
        item_sessions: Vec<u32>,
        session_offsets: Vec<u32>,
        session_items: Vec<u32>,
    ) -> Result<Self, SessionIndexError> {
        check_offsets(&item_offsets, item_sessions.len(), "item offsets")?;
        check_offsets(&session_offsets, session_items.len(), "session offsets")?;
        let sessions = (session_offsets.len() - 1) as u32;
        let items = (item_offsets.len() - 1) as u32;
        for (item, w) in item_offsets.windows(2).enumerate() {
            let list = &item_sessions[w[0] as usize..w[1] as usize];
            let ascending = list.windows(2).all(|p| p[0] < p[1]);
            if !ascending || list.last().is_some_and(|&s| s >= sessions) {
                return Err(SessionIndexError::Postings {
                    item: item as u32,
                    sessions,
                });
            }
        }
        for (session, w) in session_offsets.windows(2).enumerate() {
            let list = &session_items[w[0] as usize..w[1] as usize];
            if list.iter().any(|&i| i >= items) {
                return Err(SessionIndexError::Items {
                    session: session as u32,
                    items,
                });
            }
        }
        Ok(SessionIndex {
            item_offsets,
            item_sessions,
            session_offsets,
            session_items,
            idf: Vec::new(),
        })
    }

    /// The four arrays: item offsets, item sessions, session offsets, session items.
    pub fn parts(&self) -> [&[u32]; 4] {
        [
            &self.item_offsets,
            &self.item_sessions,
            &self.session_offsets,
            &self.session_items,
        ]
    }

    /// Number of past sessions.
    pub fn num_sessions(&self) -> usize {
        self.session_offsets.len().saturating_sub(1)
    }

    /// Number of item positions the index covers.
    pub fn num_items(&self) -> usize {
        self.item_offsets.len().saturating_sub(1)
    }

    /// The most recent sessions that hold `item`, newest first (none for an unknown item).
    pub fn sessions_of(&self, item: u32) -> &[u32] {
        let i = item as usize;
        match (self.item_offsets.get(i), self.item_offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.item_sessions[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Starts loading where `item`'s list of past sessions is, so that
    /// [`prefetch_sessions_of`](Self::prefetch_sessions_of) finds it without waiting.
    #[inline]
    pub fn prefetch_list_offset(&self, item: u32) {
        if let Some(at) = self.item_offsets.get(item as usize) {
            prefetch(at);
        }
    }

    /// Starts loading the head of `item`'s list of past sessions (its first cache line).
    #[inline]
    pub fn prefetch_sessions_of(&self, item: u32) {
        if let Some(head) = self.sessions_of(item).first() {
            prefetch(head);
        }
    }

    /// Starts loading where past session `session`'s items are, so that
    /// [`prefetch_items`](Self::prefetch_items) finds them without waiting.
    #[inline]
    pub fn prefetch_offsets(&self, session: u32) {
        if let Some(at) = self.session_offsets.get(session as usize) {
            prefetch(at);
        }
    }

    /// Starts loading the items of past session `session` (its first two cache lines:
    /// 32 items).
    #[inline]
    pub fn prefetch_items(&self, session: u32) {
        let s = session as usize;
        if let (Some(&a), Some(&b)) = (self.session_offsets.get(s), self.session_offsets.get(s + 1))
            && a < b
        {
            prefetch(&self.session_items[a as usize]);
            prefetch(&self.session_items[(a as usize + 16).min(b as usize - 1)]);
        }
    }

    /// The most recent distinct items of past session `session`, newest first.
    pub fn items_of(&self, session: u32) -> &[u32] {
        let s = session as usize;
        &self.session_items[self.session_offsets[s] as usize..self.session_offsets[s + 1] as usize]
    }

    /// The best `k` of the `sample` most recent past sessions sharing an item with `query`
    /// (distinct items, newest first), most similar first (ties: the more recent), into
    /// `out`.
    pub fn neighbours(&self, query: &[u32], sample: usize, k: usize, out: &mut Vec<Neighbour>) {
        out.clear();
        let m = query.len();
        if m == 0 || sample == 0 || k == 0 {
            return;
        }
        let lists: Vec<&[u32]> = query.iter().map(|&q| self.sessions_of(q)).collect();
        let weights: Vec<f32> = (0..m).map(|j| (m - j) as f32 / m as f32).collect();
        let mut cursor = vec![0usize; m];
        // Each list's head, u32::MAX once it is exhausted (no session has that number).
        let mut heads: Vec<u32> = lists
            .iter()
            .map(|l| l.first().copied().unwrap_or(u32::MAX))
            .collect();
        // A walk down the lists together: each round takes the most recent session at any
        // list's head and credits every query item whose list holds it.
        while out.len() < sample {
            let best = heads.iter().copied().min().unwrap_or(u32::MAX);
            if best == u32::MAX {
                break;
            }
            let mut weight = 0f32;
            let mut step = u16::MAX;
            for j in 0..m {
                if heads[j] == best {
                    cursor[j] += 1;
                    heads[j] = lists[j].get(cursor[j]).copied().unwrap_or(u32::MAX);
                    weight += weights[j];
                    step = step.min(j as u16);
                }
            }
            out.push(Neighbour {
                session: best,
                similarity: weight / m as f32,
                step,
            });
        }
        let order = |a: &Neighbour, b: &Neighbour| {
            b.similarity
                .total_cmp(&a.similarity)
                .then(a.session.cmp(&b.session))
        };
        if out.len() > k {
            out.select_nth_unstable_by(k - 1, order);
            out.truncate(k);
        }
        out.sort_unstable_by(order);
    }

    /// Bytes its arrays hold.
    pub fn heap_bytes(&self) -> usize {
        4 * (self.item_offsets.len()
            + self.item_sessions.len()
            + self.session_offsets.len()
            + self.session_items.len()
            + self.idf.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventType::Click;

    /// Sessions (in log order) of aids, the i-th ending at time 100·(i+1) unless `ts` says.
    fn log(sessions: &[&[u32]]) -> SessionLog {
        let mut log = SessionLog::new();
        for (i, aids) in sessions.iter().enumerate() {
            let t = 100 * (i as u32 + 1);
            let ts: Vec<u32> = (0..aids.len() as u32)
                .map(|j| t - aids.len() as u32 + j)
                .collect();
            log.push_session(i as u32, aids, &ts, &vec![Click; aids.len()]);
        }
        log
    }

    #[test]
    fn sessions_are_numbered_newest_first_with_distinct_items_newest_first() {
        let index = SessionIndex::build(
            &log(&[&[1, 2, 1], &[3], &[2, 4, 2]]),
            5,
            &SessionKnnParams::default(),
        );
        assert_eq!(index.num_sessions(), 3);
        assert_eq!(index.items_of(0), &[2, 4]);
        assert_eq!(index.items_of(1), &[3]);
        assert_eq!(index.items_of(2), &[1, 2]);
        assert_eq!(index.sessions_of(2), &[0, 2]);
        assert_eq!(index.sessions_of(0), &[] as &[u32]);
        assert_eq!(index.sessions_of(99), &[] as &[u32], "unknown item");
    }

    #[test]
    fn caps_keep_the_most_recent() {
        let params = SessionKnnParams {
            sessions_per_item: 2,
            items_per_session: 2,
        };
        let index = SessionIndex::build(&log(&[&[7], &[7], &[7], &[1, 2, 3]]), 8, &params);
        assert_eq!(
            index.sessions_of(7),
            &[1, 2],
            "the two newest sessions with 7"
        );
        assert_eq!(index.items_of(0), &[3, 2]);
        assert_eq!(
            index.sessions_of(1),
            &[] as &[u32],
            "1 was beyond the item cap"
        );
    }

    #[test]
    fn neighbours_by_hand() {
        // Past sessions, newest first after the build: s0 = {5, 6}, s1 = {1, 2}, s2 = {2}.
        let index = SessionIndex::build(
            &log(&[&[2], &[1, 2], &[5, 6]]),
            7,
            &SessionKnnParams::default(),
        );
        let mut out = Vec::new();
        // Query newest first: 2 (weight 2/2), 1 (weight 1/2); similarity = Σ / 2.
        index.neighbours(&[2, 1], 10, 10, &mut out);
        let got: Vec<(u32, f32, u16)> = out
            .iter()
            .map(|n| (n.session, n.similarity, n.step))
            .collect();
        assert_eq!(got, vec![(1, 0.75, 0), (2, 0.5, 0)]);
        // Only the most recent session sharing an item is sampled.
        index.neighbours(&[2, 1], 1, 10, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].session, 1);
        // k = 1 keeps the most similar; a query of the older item alone reports its step.
        index.neighbours(&[6, 1], 10, 1, &mut out);
        assert_eq!(
            (out[0].session, out[0].similarity, out[0].step),
            (0, 0.5, 0)
        );
        index.neighbours(&[9, 1], 10, 5, &mut out);
        assert_eq!((out[0].session, out[0].step), (1, 1));
    }

    #[test]
    fn neighbours_match_a_brute_force_search() {
        let mut rng = crate::rng::Rng::new(7);
        let sessions: Vec<Vec<u32>> = (0..300)
            .map(|_| {
                (0..1 + rng.below(6))
                    .map(|_| rng.below(40) as u32)
                    .collect()
            })
            .collect();
        let refs: Vec<&[u32]> = sessions.iter().map(|s| s.as_slice()).collect();
        let params = SessionKnnParams {
            sessions_per_item: 1_000,
            items_per_session: 1_000,
        };
        let index = SessionIndex::build(&log(&refs), 40, &params);
        let mut out = Vec::new();
        for _ in 0..50 {
            let query: Vec<u32> = {
                let mut q: Vec<u32> = (0..1 + rng.below(5))
                    .map(|_| rng.below(40) as u32)
                    .collect();
                q.dedup();
                let mut seen = Vec::new();
                q.retain(|x| {
                    let new = !seen.contains(x);
                    seen.push(*x);
                    new
                });
                q
            };
            let m = query.len() as f32;
            // Brute force over every past session (numbered newest first: log order reversed).
            let mut expected: Vec<(u32, f32)> = (0..300u32)
                .filter_map(|s| {
                    let items = &sessions[299 - s as usize];
                    let w: f32 = query
                        .iter()
                        .enumerate()
                        .filter(|(_, q)| items.contains(q))
                        .map(|(j, _)| (m - j as f32) / m)
                        .sum();
                    (w > 0.0).then_some((s, w / m))
                })
                .collect();
            expected.truncate(60);
            expected.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            expected.truncate(15);
            index.neighbours(&query, 60, 15, &mut out);
            let got: Vec<(u32, f32)> = out.iter().map(|n| (n.session, n.similarity)).collect();
            assert_eq!(got, expected, "query {query:?}");
        }
    }

    #[test]
    fn from_parts_round_trips_and_rejects_broken_arrays() {
        let index = SessionIndex::build(&log(&[&[1, 2], &[2, 3]]), 4, &SessionKnnParams::default());
        let [a, b, c, d] = index.parts().map(|p| p.to_vec());
        assert_eq!(
            SessionIndex::from_parts(a.clone(), b.clone(), c.clone(), d.clone()),
            Ok(index)
        );
        let mut bad = b.clone();
        bad.reverse();
        assert!(SessionIndex::from_parts(a.clone(), bad, c.clone(), d.clone()).is_err());
        assert!(
            SessionIndex::from_parts(a.clone(), b.clone(), c.clone(), vec![9; d.len()]).is_err()
        );
        assert!(SessionIndex::from_parts(vec![1], b, c, d).is_err());
    }
}
