//! Live sessions: each shopper's recent events kept by the server, so that a page that knows
//! only its visitor's session id can ask for recommendations (README.md, "Live sessions").
//!
//! Events arrive in batches ([`SessionStore::append`]) and are kept per session id, in time
//! order, bounded three ways ([`StoreLimits`]): the most recent events of a session, an
//! idle time after which a session expires, and a number of sessions beyond which the least
//! recently used goes. Delivery from browsers is at least once, so an event equal to one the
//! session already keeps is not kept twice. A session's events merged with a request's own
//! ([`merge`]) are the session a stateless request would carry.
//!
//! The store is pure state: the caller passes the clock (`now`, seconds), and a snapshot is
//! written to and read from any byte stream ([`snapshot`]).

pub mod memory;
pub mod snapshot;

use std::sync::atomic::{AtomicU64, Ordering};

use crate::domain::{EventType, OwnedSession};

pub use memory::MemoryStore;

/// Longest session id, in bytes.
pub const MAX_SESSION_ID: usize = 128;

/// A session id: 1 to 128 bytes of printable ASCII (a shop's cookie value).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(Box<str>);

/// Why a string is not a session id.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadSessionId {
    #[error("a session id must not be empty")]
    Empty,
    #[error("a session id is at most {MAX_SESSION_ID} bytes (got {0})")]
    TooLong(usize),
    #[error("a session id is printable ASCII (byte {position} is {byte:#04x})")]
    NotPrintable { position: usize, byte: u8 },
}

impl SessionId {
    /// The id, checked.
    pub fn new(id: &str) -> Result<Self, BadSessionId> {
        if id.is_empty() {
            return Err(BadSessionId::Empty);
        }
        if id.len() > MAX_SESSION_ID {
            return Err(BadSessionId::TooLong(id.len()));
        }
        if let Some((position, &byte)) = id
            .as_bytes()
            .iter()
            .enumerate()
            .find(|(_, b)| !(0x20..=0x7e).contains(*b))
        {
            return Err(BadSessionId::NotPrintable { position, byte });
        }
        Ok(SessionId(id.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One event of a live session: the item, the Unix time in seconds, the type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LiveEvent {
    pub aid: u32,
    pub ts: u32,
    pub kind: EventType,
}

/// The bounds of a store. Every one is a `serve` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    /// Most recent events kept per session (older ones are dropped as new ones arrive).
    pub events_per_session: usize,
    /// Seconds after its last use (events added, recommendations asked, read) when a
    /// session expires.
    pub ttl_secs: u64,
    /// Sessions held at most; beyond it the least recently used one is evicted.
    pub max_sessions: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            events_per_session: 30,
            ttl_secs: 7 * 24 * 3600,
            max_sessions: 1_000_000,
        }
    }
}

/// Why limits cannot bound a store.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be at least 1")]
pub struct BadLimits {
    pub field: &'static str,
}

impl StoreLimits {
    pub fn validate(self) -> Result<Self, BadLimits> {
        let zero = |field| Err(BadLimits { field });
        if self.events_per_session == 0 {
            return zero("events per session");
        }
        if self.ttl_secs == 0 {
            return zero("the session TTL");
        }
        if self.max_sessions == 0 {
            return zero("max sessions");
        }
        Ok(self)
    }
}

/// What an append did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Appended {
    /// Events kept (new to their session).
    pub stored: usize,
    /// Events equal to one their session already kept, not kept twice.
    pub duplicates: usize,
    /// Events older than every event of a session that holds its bound, not kept.
    pub older: usize,
}

/// The store's counters since it started (or since its snapshot was written).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// Sessions held now.
    pub sessions: usize,
    /// Events held now, where the store counts them (the embedded one does).
    pub events: Option<usize>,
    /// Events kept by appends.
    pub ingested: u64,
    /// Events not kept because their session already held them.
    pub duplicates: u64,
    /// Events not kept because they were older than a full session's events.
    pub older: u64,
    /// Sessions evicted to stay within `max_sessions`.
    pub evicted: u64,
    /// Sessions that expired after their TTL.
    pub expired: u64,
    /// Sessions deleted by request.
    pub deleted: u64,
}

/// The counters every store keeps of its own work (a replica's, with a shared store).
#[derive(Debug, Default)]
pub struct Counters {
    ingested: AtomicU64,
    duplicates: AtomicU64,
    older: AtomicU64,
    evicted: AtomicU64,
    expired: AtomicU64,
    deleted: AtomicU64,
}

impl Counters {
    /// Counts what an append did.
    pub fn appended(&self, a: Appended) {
        self.ingested.fetch_add(a.stored as u64, Ordering::Relaxed);
        self.duplicates
            .fetch_add(a.duplicates as u64, Ordering::Relaxed);
        self.older.fetch_add(a.older as u64, Ordering::Relaxed);
    }

    pub fn evicted(&self, n: u64) {
        self.evicted.fetch_add(n, Ordering::Relaxed);
    }

    pub fn expired(&self, n: u64) {
        self.expired.fetch_add(n, Ordering::Relaxed);
    }

    pub fn deleted(&self) {
        self.deleted.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters with the store's sizes.
    pub fn stats(&self, sessions: usize, events: Option<usize>) -> StoreStats {
        StoreStats {
            sessions,
            events,
            ingested: self.ingested.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            older: self.older.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
            expired: self.expired.load(Ordering::Relaxed),
            deleted: self.deleted.load(Ordering::Relaxed),
        }
    }
}

/// A store that cannot answer right now (a remote store unreachable); the caller retries.
#[derive(Debug, thiserror::Error)]
#[error("the session store is unavailable: {0}")]
pub struct Unavailable(pub String);

/// Where live sessions are kept. Every method is atomic for its arguments: a batch is
/// appended whole or not at all.
pub trait SessionStore: Send + Sync {
    /// Appends a batch of events to their sessions at time `now`.
    fn append(&self, batch: &[(SessionId, LiveEvent)], now: u64) -> Result<Appended, Unavailable>;
    /// A session's events in time order (`None` when the store holds no such session),
    /// counting as a use at `now`.
    fn get(&self, id: &SessionId, now: u64) -> Result<Option<Vec<LiveEvent>>, Unavailable>;
    /// Forgets a session; whether it was held.
    fn delete(&self, id: &SessionId) -> Result<bool, Unavailable>;
    /// Drops the sessions idle for longer than the TTL at `now`; how many.
    fn expire(&self, now: u64) -> usize;
    /// Counters and sizes.
    fn stats(&self) -> StoreStats;
    /// The bounds.
    fn limits(&self) -> StoreLimits;
    /// The store's kind, for `/readyz` and logs.
    fn kind(&self) -> &'static str;
    /// Whether the store answers now.
    fn check(&self) -> Result<(), Unavailable> {
        Ok(())
    }
}

/// What [`insert_event`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// Kept.
    New,
    /// The session holds an equal event.
    Duplicate,
    /// The session holds its bound of events, none older: the event would be the first
    /// dropped, so it is not kept (a resent old event changes nothing).
    Older,
}

/// Puts `event` into `events` (time order; among equal times, after those present) unless an
/// equal event is there or it is older than every event of a full session, then drops the
/// oldest beyond `bound`.
pub fn insert_event(events: &mut Vec<LiveEvent>, event: LiveEvent, bound: usize) -> Inserted {
    if events.contains(&event) {
        return Inserted::Duplicate;
    }
    if events.len() >= bound && events.first().is_some_and(|first| event.ts <= first.ts) {
        return Inserted::Older;
    }
    // The oldest goes first, so a session never holds more than `bound` events and its
    // allocation (sized to the bound when the session starts) never grows.
    if events.len() >= bound {
        let excess = events.len() + 1 - bound;
        events.drain(..excess);
    }
    let at = events.partition_point(|e| e.ts <= event.ts);
    events.insert(at, event);
    Inserted::New
}

/// The session a request means: the stored events, then the request's own, in time order
/// (a stable sort, so among equal times the stored come first), exactly as a stateless
/// request carrying the stored events followed by its own would be read.
pub fn merge(stored: &[LiveEvent], own: OwnedSession) -> OwnedSession {
    if stored.is_empty() {
        return own;
    }
    let n = stored.len() + own.aids.len();
    let mut aids = Vec::with_capacity(n);
    let mut ts = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    for e in stored {
        aids.push(e.aid);
        ts.push(e.ts);
        types.push(e.kind);
    }
    aids.extend_from_slice(&own.aids);
    ts.extend_from_slice(&own.ts);
    types.extend_from_slice(&own.types);
    OwnedSession::new(aids, ts, types)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(aid: u32, ts: u32) -> LiveEvent {
        LiveEvent {
            aid,
            ts,
            kind: EventType::Click,
        }
    }

    #[test]
    fn session_ids_are_printable_ascii_of_1_to_128_bytes() {
        assert!(SessionId::new("a81f-42 x~").is_ok());
        assert_eq!(SessionId::new(""), Err(BadSessionId::Empty));
        assert_eq!(
            SessionId::new(&"x".repeat(129)),
            Err(BadSessionId::TooLong(129))
        );
        assert!(SessionId::new(&"x".repeat(128)).is_ok());
        assert_eq!(
            SessionId::new("ab\ncd"),
            Err(BadSessionId::NotPrintable {
                position: 2,
                byte: b'\n'
            })
        );
        assert!(SessionId::new("é").is_err());
    }

    #[test]
    fn events_are_kept_in_time_order_once_and_the_newest_within_the_bound() {
        let mut events = Vec::new();
        assert_eq!(insert_event(&mut events, ev(1, 10), 3), Inserted::New);
        assert_eq!(insert_event(&mut events, ev(2, 5), 3), Inserted::New);
        assert_eq!(insert_event(&mut events, ev(1, 10), 3), Inserted::Duplicate);
        assert_eq!(insert_event(&mut events, ev(3, 10), 3), Inserted::New);
        assert_eq!(events, vec![ev(2, 5), ev(1, 10), ev(3, 10)]);
        assert_eq!(insert_event(&mut events, ev(4, 7), 3), Inserted::New);
        assert_eq!(events, vec![ev(4, 7), ev(1, 10), ev(3, 10)]);
        // The dropped event, sent again, is older than the full session: not kept.
        assert_eq!(insert_event(&mut events, ev(2, 5), 3), Inserted::Older);
        assert_eq!(insert_event(&mut events, ev(9, 7), 3), Inserted::Older);
        assert_eq!(events, vec![ev(4, 7), ev(1, 10), ev(3, 10)]);
    }

    #[test]
    fn merge_reads_as_the_stored_events_followed_by_the_requests() {
        let stored = [ev(1, 10), ev(2, 20)];
        let own = OwnedSession::new(vec![3, 4], vec![20, 5], vec![EventType::Cart; 2]);
        let merged = merge(&stored, own);
        let stateless = OwnedSession::new(
            vec![1, 2, 3, 4],
            vec![10, 20, 20, 5],
            vec![
                EventType::Click,
                EventType::Click,
                EventType::Cart,
                EventType::Cart,
            ],
        );
        assert_eq!(merged, stateless);
        assert_eq!(merged.aids, vec![4, 1, 2, 3]);
    }

    #[test]
    fn limits_of_zero_are_refused() {
        assert!(StoreLimits::default().validate().is_ok());
        let zero = StoreLimits {
            max_sessions: 0,
            ..StoreLimits::default()
        };
        assert_eq!(zero.validate().unwrap_err().field, "max sessions");
    }
}
