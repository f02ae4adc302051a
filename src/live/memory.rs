//! The embedded store: sessions in the server's memory, in shards each behind its own lock.
//! Each shard keeps its sessions in a hash map and in order of last use, so the least
//! recently used session (to evict) and the idlest (to expire) are found at the front.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    Appended, Counters, Inserted, LiveEvent, SessionId, SessionStore, StoreLimits, StoreStats,
    Unavailable, insert_event,
};

/// Shards of a store large enough to share its sessions among them; a small store has one,
/// so that its eviction order is exactly least recently used. With several, the cap is the
/// store's (a count shared by the shards) and the session evicted is the least recently used
/// of the shard that grew: the least recently used of about a sixteenth of the sessions.
const SHARDS: usize = 16;
/// Sessions per shard below which a store keeps one shard.
const MIN_PER_SHARD: usize = 1_024;

/// A session held: its events and when it was last used.
#[derive(Debug)]
struct Entry {
    events: Vec<LiveEvent>,
    last_used: u64,
    /// Position in the shard's use order (larger is more recent).
    order: u64,
}

#[derive(Debug)]
struct Shard {
    sessions: HashMap<Arc<str>, Entry>,
    /// Order of last use (the store's, shared by its shards) → session id; the first is
    /// the least recently used.
    by_use: BTreeMap<u64, Arc<str>>,
    events: usize,
    /// Sessions held by all the store's shards (each shard counts its own in and out).
    held: Arc<AtomicUsize>,
}

impl Shard {
    fn new(held: Arc<AtomicUsize>) -> Self {
        Shard {
            sessions: HashMap::new(),
            by_use: BTreeMap::new(),
            events: 0,
            held,
        }
    }

    /// Adds a session not held; the store's count of sessions after it.
    fn insert_new(
        &mut self,
        id: &str,
        events: Vec<LiveEvent>,
        last_used: u64,
        order: u64,
    ) -> usize {
        let key: Arc<str> = Arc::from(id);
        self.events += events.len();
        self.by_use.insert(order, key.clone());
        self.sessions.insert(
            key,
            Entry {
                events,
                last_used,
                order,
            },
        );
        // Room for twice the sessions held: a table that evicts all day then clears its
        // deleted slots in place instead of doubling at some later hour, so its memory
        // stops growing once the store is full.
        let held = self.sessions.len();
        if held * 2 > self.sessions.capacity() {
            self.sessions.reserve(held);
        }
        self.held.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Marks `id` as used at `now`, moving it to the end of the use order.
    fn touch(&mut self, id: &str, now: u64, order: u64) {
        if let Some((key, entry)) = self.sessions.get_key_value(id) {
            let key = key.clone();
            let old = entry.order;
            self.by_use.remove(&old);
            self.by_use.insert(order, key);
            let entry = self.sessions.get_mut(id).expect("present");
            entry.order = order;
            entry.last_used = entry.last_used.max(now);
        }
    }

    fn remove(&mut self, id: &str) -> bool {
        match self.sessions.remove(id) {
            Some(entry) => {
                self.by_use.remove(&entry.order);
                self.events -= entry.events.len();
                self.held.fetch_sub(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Removes the least recently used session; the store's count of sessions after it.
    fn pop_oldest(&mut self) -> Option<usize> {
        let (_, id) = self.by_use.pop_first()?;
        let entry = self.sessions.remove(&id).expect("listed sessions are held");
        self.events -= entry.events.len();
        Some(self.held.fetch_sub(1, Ordering::Relaxed) - 1)
    }

    /// Removes the sessions idle since before `now - ttl`; how many.
    fn expire(&mut self, now: u64, ttl: u64) -> usize {
        let mut expired = 0;
        while let Some((_, id)) = self.by_use.first_key_value() {
            let idle_since = self.sessions[id].last_used;
            if idle_since.saturating_add(ttl) > now {
                break;
            }
            self.pop_oldest();
            expired += 1;
        }
        expired
    }
}

/// A new session's events: `first`, in room for the session's whole bound (up to 64
/// events; a larger bound grows as events come). Sessions whose storage is one size are
/// what keeps the memory of a store that evicts all day flat: storage grown by doubling
/// leaves the allocator freed pieces of every size to reuse.
fn first_events(first: LiveEvent, bound: usize) -> Vec<LiveEvent> {
    let mut events = Vec::with_capacity(bound.min(64));
    events.push(first);
    events
}

/// Sessions in this process's memory.
#[derive(Debug)]
pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
    hasher: std::collections::hash_map::RandomState,
    limits: StoreLimits,
    next_order: AtomicU64,
    counters: Counters,
}

impl MemoryStore {
    /// An empty store with these (valid) limits.
    pub fn new(limits: StoreLimits) -> Self {
        let shards = if limits.max_sessions >= SHARDS * MIN_PER_SHARD {
            SHARDS
        } else {
            1
        };
        let held = Arc::new(AtomicUsize::new(0));
        MemoryStore {
            shards: (0..shards)
                .map(|_| Mutex::new(Shard::new(held.clone())))
                .collect(),
            hasher: Default::default(),
            limits,
            next_order: AtomicU64::new(0),
            counters: Counters::default(),
        }
    }

    fn shard(&self, id: &str) -> MutexGuard<'_, Shard> {
        let index = if self.shards.len() == 1 {
            0
        } else {
            (self.hasher.hash_one(id) % self.shards.len() as u64) as usize
        };
        // A panic while a shard was locked leaves it consistent (every mutation completes
        // before anything that could panic), so a poisoned lock is taken as it is.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Puts a whole session in (a snapshot being read): its events as they are, last used
    /// at `last_used`. Sessions restored in order of last use keep that order.
    pub fn restore(&self, id: &SessionId, events: Vec<LiveEvent>, last_used: u64) {
        let mut shard = self.shard(id.as_str());
        shard.remove(id.as_str());
        let held = shard.insert_new(id.as_str(), events, last_used, self.next_order());
        self.evict_beyond_capacity(&mut shard, held);
    }

    fn next_order(&self) -> u64 {
        self.next_order.fetch_add(1, Ordering::Relaxed)
    }

    /// Every session with its events and last use, least recently used first (for a
    /// snapshot).
    pub fn sessions(&self) -> Vec<(SessionId, Vec<LiveEvent>, u64)> {
        let mut all = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            for (&order, id) in &shard.by_use {
                let entry = &shard.sessions[id];
                all.push((
                    order,
                    SessionId(id.as_ref().into()),
                    entry.events.clone(),
                    entry.last_used,
                ));
            }
        }
        all.sort_unstable_by_key(|s| s.0);
        all.into_iter()
            .map(|(_, id, events, last_used)| (id, events, last_used))
            .collect()
    }

    /// After `shard` gained a session and the store holds `held`: while that is more than
    /// its cap, evicts the least recently used session of `shard` (never the one just added).
    fn evict_beyond_capacity(&self, shard: &mut Shard, mut held: usize) {
        while held > self.limits.max_sessions && shard.sessions.len() > 1 {
            held = shard.pop_oldest().expect("the shard holds sessions");
            self.counters.evicted(1);
        }
    }
}

impl SessionStore for MemoryStore {
    fn append(&self, batch: &[(SessionId, LiveEvent)], now: u64) -> Result<Appended, Unavailable> {
        let mut appended = Appended::default();
        let bound = self.limits.events_per_session;
        for (id, event) in batch {
            let mut shard = self.shard(id.as_str());
            let shard = &mut *shard;
            let before;
            let inserted = match shard.sessions.get_mut(id.as_str()) {
                Some(entry) => {
                    before = entry.events.len();
                    let inserted = insert_event(&mut entry.events, *event, bound);
                    shard.events = shard.events + entry.events.len() - before;
                    shard.touch(id.as_str(), now, self.next_order());
                    inserted
                }
                None => {
                    let order = self.next_order();
                    let held =
                        shard.insert_new(id.as_str(), first_events(*event, bound), now, order);
                    self.evict_beyond_capacity(shard, held);
                    Inserted::New
                }
            };
            match inserted {
                Inserted::New => appended.stored += 1,
                Inserted::Duplicate => appended.duplicates += 1,
                Inserted::Older => appended.older += 1,
            }
        }
        self.counters.appended(appended);
        Ok(appended)
    }

    fn get(&self, id: &SessionId, now: u64) -> Result<Option<Vec<LiveEvent>>, Unavailable> {
        let mut shard = self.shard(id.as_str());
        let ttl = self.limits.ttl_secs;
        let Some(entry) = shard.sessions.get(id.as_str()) else {
            return Ok(None);
        };
        if entry.last_used.saturating_add(ttl) <= now {
            shard.remove(id.as_str());
            self.counters.expired(1);
            return Ok(None);
        }
        let events = entry.events.clone();
        shard.touch(id.as_str(), now, self.next_order());
        Ok(Some(events))
    }

    fn delete(&self, id: &SessionId) -> Result<bool, Unavailable> {
        let removed = self.shard(id.as_str()).remove(id.as_str());
        if removed {
            self.counters.deleted();
        }
        Ok(removed)
    }

    fn expire(&self, now: u64) -> usize {
        let mut expired = 0;
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            expired += shard.expire(now, self.limits.ttl_secs);
        }
        self.counters.expired(expired as u64);
        expired
    }

    fn stats(&self) -> StoreStats {
        let (mut sessions, mut events) = (0, 0);
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            sessions += shard.sessions.len();
            events += shard.events;
        }
        self.counters.stats(sessions, Some(events))
    }

    fn limits(&self) -> StoreLimits {
        self.limits
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventType;

    fn id(s: &str) -> SessionId {
        SessionId::new(s).unwrap()
    }

    fn ev(aid: u32, ts: u32) -> LiveEvent {
        LiveEvent {
            aid,
            ts,
            kind: EventType::Click,
        }
    }

    fn limits(events: usize, ttl: u64, sessions: usize) -> StoreLimits {
        StoreLimits {
            events_per_session: events,
            ttl_secs: ttl,
            max_sessions: sessions,
        }
    }

    #[test]
    fn appends_keep_each_session_in_time_order_without_duplicates() {
        let store = MemoryStore::new(limits(3, 100, 10));
        let batch = [
            (id("a"), ev(1, 10)),
            (id("b"), ev(7, 1)),
            (id("a"), ev(2, 5)),
            (id("a"), ev(1, 10)),
        ];
        let appended = store.append(&batch, 0).unwrap();
        assert_eq!(
            appended,
            Appended {
                stored: 3,
                duplicates: 1,
                older: 0
            }
        );
        assert_eq!(
            store.get(&id("a"), 1).unwrap(),
            Some(vec![ev(2, 5), ev(1, 10)])
        );
        store
            .append(&[(id("a"), ev(3, 11)), (id("a"), ev(4, 12))], 2)
            .unwrap();
        assert_eq!(
            store.get(&id("a"), 3).unwrap(),
            Some(vec![ev(1, 10), ev(3, 11), ev(4, 12)]),
            "the three newest"
        );
        let stats = store.stats();
        assert_eq!((stats.sessions, stats.events), (2, Some(4)));
        assert_eq!((stats.ingested, stats.duplicates), (5, 1));
        assert!(store.delete(&id("a")).unwrap());
        assert!(!store.delete(&id("a")).unwrap());
        assert_eq!(store.get(&id("a"), 4).unwrap(), None);
        assert_eq!(store.stats().deleted, 1);
    }

    #[test]
    fn the_least_recently_used_session_is_evicted_beyond_the_cap() {
        let store = MemoryStore::new(limits(30, 1_000, 3));
        for (t, s) in ["a", "b", "c"].iter().enumerate() {
            store.append(&[(id(s), ev(1, 1))], t as u64).unwrap();
        }
        // "a" is used again, so "b" is now the least recently used.
        assert!(store.get(&id("a"), 5).unwrap().is_some());
        store.append(&[(id("d"), ev(1, 1))], 6).unwrap();
        assert_eq!(store.get(&id("b"), 7).unwrap(), None);
        for s in ["a", "c", "d"] {
            assert!(store.get(&id(s), 7).unwrap().is_some(), "{s}");
        }
        let stats = store.stats();
        assert_eq!((stats.sessions, stats.evicted), (3, 1));
    }

    #[test]
    fn idle_sessions_expire_after_the_ttl() {
        let store = MemoryStore::new(limits(30, 10, 100));
        store.append(&[(id("old"), ev(1, 1))], 0).unwrap();
        store.append(&[(id("new"), ev(1, 1))], 5).unwrap();
        assert_eq!(store.expire(9), 0);
        assert_eq!(store.expire(10), 1);
        assert_eq!(store.get(&id("old"), 10).unwrap(), None);
        // Read at its expiry, a session is gone even before a sweep.
        assert_eq!(store.get(&id("new"), 15).unwrap(), None);
        assert_eq!(store.stats().expired, 2);
        assert_eq!(store.stats().sessions, 0);
    }

    proptest::proptest! {
        /// Events of a few sessions, in any order, in batches of any size, every batch
        /// sent once or twice: each session holds its distinct events, the newest within
        /// the bound, in time order, and the counts add up.
        #[test]
        fn any_delivery_order_keeps_each_sessions_newest_distinct_events(
            events in proptest::collection::vec((0u8..4, 0u32..6, 0u32..1_000), 1..120),
            batch in 1usize..30,
            resend in proptest::collection::vec(proptest::bool::ANY, 1..60),
            bound in 1usize..8,
        ) {
            // One event per time within a session, so "the newest" is one set whatever
            // the order of arrival.
            let mut seen = std::collections::HashSet::new();
            let events: Vec<(u8, LiveEvent)> = events
                .into_iter()
                .filter(|&(s, _, ts)| seen.insert((s, ts)))
                .map(|(s, aid, ts)| (s, ev(aid, ts)))
                .collect();
            let store = MemoryStore::new(limits(bound, 1_000, 100));
            let mut sent = 0;
            let mut not_kept = 0;
            for (i, chunk) in events.chunks(batch).enumerate() {
                let chunk: Vec<_> = chunk.iter().map(|(s, e)| (id(&format!("s{s}")), *e)).collect();
                for _ in 0..(1 + resend[i % resend.len()] as usize) {
                    let a = store.append(&chunk, 1).unwrap();
                    sent += chunk.len();
                    not_kept += a.duplicates + a.older;
                    proptest::prop_assert_eq!(a.stored + a.duplicates + a.older, chunk.len());
                }
            }
            let mut held = 0;
            for s in 0..4u8 {
                let mut want: Vec<LiveEvent> =
                    events.iter().filter(|(x, _)| *x == s).map(|(_, e)| *e).collect();
                want.sort_by_key(|e| e.ts);
                let want = want[want.len().saturating_sub(bound)..].to_vec();
                let got = store.get(&id(&format!("s{s}")), 2).unwrap();
                if want.is_empty() {
                    proptest::prop_assert_eq!(got, None);
                } else {
                    held += want.len();
                    proptest::prop_assert_eq!(got, Some(want));
                }
            }
            let stats = store.stats();
            proptest::prop_assert_eq!(stats.events, Some(held));
            proptest::prop_assert_eq!(stats.ingested as usize + not_kept, sent);
        }
    }

    #[test]
    fn a_large_store_shards_and_still_holds_at_most_its_cap() {
        let cap = SHARDS * MIN_PER_SHARD;
        let store = MemoryStore::new(limits(2, 1_000, cap));
        assert_eq!(store.shards.len(), SHARDS);
        let batch: Vec<_> = (0..cap + 500)
            .map(|i| (id(&format!("s{i}")), ev(i as u32, 1)))
            .collect();
        store.append(&batch, 1).unwrap();
        let stats = store.stats();
        assert!(stats.sessions <= cap, "{}", stats.sessions);
        assert_eq!(stats.sessions as u64 + stats.evicted, (cap + 500) as u64);
        assert_eq!(stats.events, Some(stats.sessions));
    }
}
