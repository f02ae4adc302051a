//! Events and sessions: the columnar in-memory form every stage works on, and the readers
//! and writers of the OTTO formats (JSONL, event-per-row Parquet, labels, submissions).
//!
//! Inside otto-rec time is in seconds and the event type is a [`EventType`]; a session's
//! events are kept in time order (a stable sort by timestamp on ingest).

pub mod atomic;
pub mod jsonl;
pub mod labels;
pub mod parquet;
pub mod split;
pub mod submission;

use std::path::Path;

use crate::error::{Error, Result};

/// The kind of an event; the discriminant is the code used in Parquet and the HTTP API.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
pub enum EventType {
    #[serde(rename = "clicks")]
    Click = 0,
    #[serde(rename = "carts")]
    Cart = 1,
    #[serde(rename = "orders")]
    Order = 2,
}

impl EventType {
    /// The three types in code order.
    pub const ALL: [EventType; 3] = [EventType::Click, EventType::Cart, EventType::Order];

    /// The type for a numeric code (0 click, 1 cart, 2 order).
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(EventType::Click),
            1 => Some(EventType::Cart),
            2 => Some(EventType::Order),
            _ => None,
        }
    }

    /// The type for its OTTO name (`clicks`, `carts`, `orders`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "clicks" => Some(EventType::Click),
            "carts" => Some(EventType::Cart),
            "orders" => Some(EventType::Order),
            _ => None,
        }
    }

    /// The OTTO name, also the name of the objective in submissions.
    pub fn name(self) -> &'static str {
        match self {
            EventType::Click => "clicks",
            EventType::Cart => "carts",
            EventType::Order => "orders",
        }
    }

    /// The numeric code, usable as an index into per-type arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Timestamps above this are milliseconds (design.md §1); below, seconds.
pub const MILLISECONDS_ABOVE: u64 = 100_000_000_000;

/// Converts an OTTO timestamp (seconds or milliseconds) to seconds.
pub fn to_seconds(ts: u64) -> u64 {
    if ts > MILLISECONDS_ABOVE {
        ts / 1000
    } else {
        ts
    }
}

/// One session's events, borrowed from a [`SessionLog`] or a request: parallel slices in
/// time order.
#[derive(Clone, Copy, Debug)]
pub struct Session<'a> {
    pub id: u32,
    pub aids: &'a [u32],
    pub ts: &'a [u32],
    pub types: &'a [EventType],
}

impl Session<'_> {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.aids.len()
    }

    /// True when the session has no events.
    pub fn is_empty(&self) -> bool {
        self.aids.is_empty()
    }
}

/// The stable time order of events, or `None` when they are already in order.
fn time_order(ts: &[u32]) -> Option<Vec<usize>> {
    if ts.is_sorted() {
        return None;
    }
    let mut order: Vec<usize> = (0..ts.len()).collect();
    order.sort_by_key(|&i| ts[i]);
    Some(order)
}

/// One session that owns its events (e.g. from an HTTP request), in time order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedSession {
    pub aids: Vec<u32>,
    pub ts: Vec<u32>,
    pub types: Vec<EventType>,
}

impl OwnedSession {
    /// A session from parallel lists, put in time order by a stable sort on the timestamp.
    pub fn new(aids: Vec<u32>, ts: Vec<u32>, types: Vec<EventType>) -> Self {
        debug_assert!(aids.len() == ts.len() && ts.len() == types.len());
        match time_order(&ts) {
            None => OwnedSession { aids, ts, types },
            Some(order) => OwnedSession {
                aids: order.iter().map(|&i| aids[i]).collect(),
                ts: order.iter().map(|&i| ts[i]).collect(),
                types: order.iter().map(|&i| types[i]).collect(),
            },
        }
    }

    /// A borrowed view.
    pub fn view(&self) -> Session<'_> {
        Session {
            id: 0,
            aids: &self.aids,
            ts: &self.ts,
            types: &self.types,
        }
    }
}

/// Many sessions as flat columns: `offsets[i]..offsets[i + 1]` are session `i`'s events.
///
/// 9 bytes per event plus 12 per session, so the 216M events of the Kaggle training set
/// take about 2 GB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionLog {
    pub session_ids: Vec<u32>,
    pub offsets: Vec<usize>,
    pub aids: Vec<u32>,
    pub ts: Vec<u32>,
    pub types: Vec<EventType>,
}

impl Default for SessionLog {
    fn default() -> Self {
        SessionLog {
            session_ids: Vec::new(),
            offsets: vec![0],
            aids: Vec::new(),
            ts: Vec::new(),
            types: Vec::new(),
        }
    }
}

impl SessionLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.session_ids.len()
    }

    /// Reserves room for about `events` more events (and a matching number of sessions),
    /// so a large file fills its columns without doubling past its size.
    pub fn reserve(&mut self, events: usize) {
        self.aids.reserve(events);
        self.ts.reserve(events);
        self.types.reserve(events);
        self.session_ids.reserve(events / 16);
        self.offsets.reserve(events / 16);
    }

    /// True when there are no sessions.
    pub fn is_empty(&self) -> bool {
        self.session_ids.is_empty()
    }

    /// Number of events over all sessions.
    pub fn num_events(&self) -> usize {
        self.aids.len()
    }

    /// Session `i` (by position, not id).
    pub fn session(&self, i: usize) -> Session<'_> {
        let range = self.offsets[i]..self.offsets[i + 1];
        Session {
            id: self.session_ids[i],
            aids: &self.aids[range.clone()],
            ts: &self.ts[range.clone()],
            types: &self.types[range],
        }
    }

    /// All sessions in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Session<'_>> + '_ {
        (0..self.len()).map(|i| self.session(i))
    }

    /// Appends a session whose events are given as parallel slices; events out of time
    /// order are put in order by a stable sort on the timestamp.
    pub fn push_session(&mut self, id: u32, aids: &[u32], ts: &[u32], types: &[EventType]) {
        debug_assert!(aids.len() == ts.len() && ts.len() == types.len());
        match time_order(ts) {
            None => {
                self.aids.extend_from_slice(aids);
                self.ts.extend_from_slice(ts);
                self.types.extend_from_slice(types);
            }
            Some(order) => {
                self.aids.extend(order.iter().map(|&i| aids[i]));
                self.ts.extend(order.iter().map(|&i| ts[i]));
                self.types.extend(order.iter().map(|&i| types[i]));
            }
        }
        self.session_ids.push(id);
        self.offsets.push(self.aids.len());
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.session_ids.shrink_to_fit();
        self.offsets.shrink_to_fit();
        self.aids.shrink_to_fit();
        self.ts.shrink_to_fit();
        self.types.shrink_to_fit();
    }

    /// Appends every session of `other`.
    pub fn append(&mut self, other: &SessionLog) {
        let base = self.aids.len();
        self.session_ids.extend_from_slice(&other.session_ids);
        self.offsets
            .extend(other.offsets[1..].iter().map(|&o| o + base));
        self.aids.extend_from_slice(&other.aids);
        self.ts.extend_from_slice(&other.ts);
        self.types.extend_from_slice(&other.types);
    }

    /// The smallest and largest timestamp over all events, if any.
    pub fn ts_range(&self) -> Option<(u32, u32)> {
        let min = self.ts.iter().copied().min()?;
        let max = self.ts.iter().copied().max()?;
        Some((min, max))
    }

    /// One past the largest aid, or 0 without events.
    pub fn aid_bound(&self) -> usize {
        self.aids
            .iter()
            .copied()
            .max()
            .map_or(0, |a| a as usize + 1)
    }

    /// Event counts by type (click, cart, order).
    pub fn type_counts(&self) -> [usize; 3] {
        let mut counts = [0; 3];
        for t in &self.types {
            counts[t.index()] += 1;
        }
        counts
    }
}

/// Input formats, chosen by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Parquet,
}

impl Format {
    /// The format of `path` from its extension (`.jsonl`/`.json`/`.ndjson`, `.parquet`).
    pub fn of(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "json" | "ndjson") => Ok(Format::Jsonl),
            Some("parquet" | "pq") => Ok(Format::Parquet),
            _ => Err(Error::invalid_input(
                path,
                "unknown format: expected a .jsonl (Kaggle OTTO) or .parquet (one row per event) file",
            )),
        }
    }
}

/// Reads an OTTO event file in either format into a [`SessionLog`].
pub fn read_events(path: &Path, progress: &indicatif::ProgressBar) -> Result<SessionLog> {
    match Format::of(path)? {
        Format::Jsonl => jsonl::read_sessions(path, progress),
        Format::Parquet => parquet::read_events(path),
    }
}

/// Reads several event files and concatenates their sessions.
pub fn read_all_events(paths: &[std::path::PathBuf]) -> Result<SessionLog> {
    let mut log = SessionLog::new();
    for path in paths {
        let progress = crate::progress::bytes(path, "reading");
        let part = read_events(path, &progress)?;
        progress.finish_and_clear();
        if log.is_empty() {
            log = part;
        } else {
            log.append(&part);
        }
    }
    Ok(log)
}
