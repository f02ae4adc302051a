//! Sessions: one shopper's events in time order, borrowed ([`Session`]), owned
//! ([`OwnedSession`], e.g. from a request) or many in flat columns ([`SessionLog`]).

use super::{EventType, Timestamp};

/// One session's events, borrowed from a [`SessionLog`] or a request: parallel slices in
/// time order. `millis` holds the milliseconds within each event's second, or is empty
/// when every event falls on a whole second.
#[derive(Clone, Copy, Debug)]
pub struct Session<'a> {
    pub id: u32,
    pub aids: &'a [u32],
    pub ts: &'a [u32],
    pub millis: &'a [u16],
    pub types: &'a [EventType],
}

impl<'a> Session<'a> {
    /// A session with id 0 and whole-second timestamps.
    pub fn new(aids: &'a [u32], ts: &'a [u32], types: &'a [EventType]) -> Self {
        debug_assert!(aids.len() == ts.len() && ts.len() == types.len());
        Session {
            id: 0,
            aids,
            ts,
            millis: &[],
            types,
        }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.aids.len()
    }

    /// True when the session has no events.
    pub fn is_empty(&self) -> bool {
        self.aids.is_empty()
    }

    /// The full timestamp of event `i`.
    pub fn timestamp(&self, i: usize) -> Timestamp {
        Timestamp {
            seconds: self.ts[i],
            millis: self.millis.get(i).copied().unwrap_or(0),
        }
    }

    /// The first `n` events (all of them when there are fewer).
    pub fn head(&self, n: usize) -> Session<'a> {
        let n = n.min(self.len());
        Session {
            id: self.id,
            aids: &self.aids[..n],
            ts: &self.ts[..n],
            millis: if self.millis.is_empty() {
                &[]
            } else {
                &self.millis[..n]
            },
            types: &self.types[..n],
        }
    }

    /// The last `n` events (all of them when there are fewer).
    pub fn tail(&self, n: usize) -> Session<'a> {
        let start = self.len().saturating_sub(n);
        Session {
            id: self.id,
            aids: &self.aids[start..],
            ts: &self.ts[start..],
            millis: if self.millis.is_empty() {
                &[]
            } else {
                &self.millis[start..]
            },
            types: &self.types[start..],
        }
    }
}

/// The stable time order of events, or `None` when they are already in order.
fn time_order(ts: &[u32], millis: &[u16]) -> Option<Vec<usize>> {
    let key = |i: usize| (ts[i], millis.get(i).copied().unwrap_or(0));
    if (1..ts.len()).all(|i| key(i - 1) <= key(i)) {
        return None;
    }
    let mut order: Vec<usize> = (0..ts.len()).collect();
    order.sort_by_key(|&i| key(i));
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
        match time_order(&ts, &[]) {
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
        Session::new(&self.aids, &self.ts, &self.types)
    }
}

/// Many sessions as flat columns: `offsets[i]..offsets[i + 1]` are session `i`'s events.
///
/// 10 bytes per event plus 12 per session (2 more per event when the input has
/// milliseconds), so the 216M events of the Kaggle training set take about 2.3 GB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionLog {
    pub session_ids: Vec<u32>,
    pub offsets: Vec<usize>,
    pub aids: Vec<u32>,
    /// Whole seconds.
    pub ts: Vec<u32>,
    /// Milliseconds within the second, one per event; empty while every event so far
    /// falls on a whole second.
    pub millis: Vec<u16>,
    pub types: Vec<EventType>,
}

impl Default for SessionLog {
    fn default() -> Self {
        SessionLog {
            session_ids: Vec::new(),
            offsets: vec![0],
            aids: Vec::new(),
            ts: Vec::new(),
            millis: Vec::new(),
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

    /// True when some event has a non-zero millisecond part.
    pub fn has_millis(&self) -> bool {
        !self.millis.is_empty()
    }

    /// Session `i` (by position, not id).
    pub fn session(&self, i: usize) -> Session<'_> {
        let range = self.offsets[i]..self.offsets[i + 1];
        Session {
            id: self.session_ids[i],
            aids: &self.aids[range.clone()],
            ts: &self.ts[range.clone()],
            millis: if self.millis.is_empty() {
                &[]
            } else {
                &self.millis[range.clone()]
            },
            types: &self.types[range],
        }
    }

    /// All sessions in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Session<'_>> + '_ {
        (0..self.len()).map(|i| self.session(i))
    }

    /// Appends a session whose events are given as parallel slices (whole seconds); events
    /// out of time order are put in order by a stable sort on the timestamp.
    pub fn push_session(&mut self, id: u32, aids: &[u32], ts: &[u32], types: &[EventType]) {
        self.push_session_millis(id, aids, ts, &[], types);
    }

    /// [`push_session`](Self::push_session) with the milliseconds of each event (`millis`
    /// empty: whole seconds).
    pub fn push_session_millis(
        &mut self,
        id: u32,
        aids: &[u32],
        ts: &[u32],
        millis: &[u16],
        types: &[EventType],
    ) {
        debug_assert!(aids.len() == ts.len() && ts.len() == types.len());
        debug_assert!(millis.is_empty() || millis.len() == ts.len());
        let keep_millis = self.has_millis() || millis.iter().any(|&m| m != 0);
        if keep_millis {
            self.millis.resize(self.aids.len(), 0);
        }
        let ms = |i: usize| millis.get(i).copied().unwrap_or(0);
        match time_order(ts, millis) {
            None => {
                self.aids.extend_from_slice(aids);
                self.ts.extend_from_slice(ts);
                self.types.extend_from_slice(types);
                if keep_millis {
                    self.millis.extend((0..ts.len()).map(ms));
                }
            }
            Some(order) => {
                self.aids.extend(order.iter().map(|&i| aids[i]));
                self.ts.extend(order.iter().map(|&i| ts[i]));
                self.types.extend(order.iter().map(|&i| types[i]));
                if keep_millis {
                    self.millis.extend(order.iter().map(|&i| ms(i)));
                }
            }
        }
        self.session_ids.push(id);
        self.offsets.push(self.aids.len());
    }

    /// Appends one session given as a view (keeping its milliseconds).
    pub fn push(&mut self, session: Session<'_>) {
        self.push_session_millis(
            session.id,
            session.aids,
            session.ts,
            session.millis,
            session.types,
        );
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.session_ids.shrink_to_fit();
        self.offsets.shrink_to_fit();
        self.aids.shrink_to_fit();
        self.ts.shrink_to_fit();
        self.millis.shrink_to_fit();
        self.types.shrink_to_fit();
    }

    /// Appends every session of `other`.
    pub fn append(&mut self, other: &SessionLog) {
        let base = self.aids.len();
        if self.has_millis() || other.has_millis() {
            self.millis.resize(base, 0);
            if other.has_millis() {
                self.millis.extend_from_slice(&other.millis);
            } else {
                self.millis.resize(base + other.num_events(), 0);
            }
        }
        self.session_ids.extend_from_slice(&other.session_ids);
        self.offsets
            .extend(other.offsets[1..].iter().map(|&o| o + base));
        self.aids.extend_from_slice(&other.aids);
        self.ts.extend_from_slice(&other.ts);
        self.types.extend_from_slice(&other.types);
    }

    /// The sessions as they were before `cutoff`: each keeps its events strictly before
    /// it; sessions left empty are dropped.
    pub fn before(&self, cutoff: Timestamp) -> SessionLog {
        let mut out = SessionLog::new();
        for session in self.iter() {
            let n = (0..session.len())
                .take_while(|&e| session.timestamp(e) < cutoff)
                .count();
            if n > 0 {
                out.push(session.tail(session.len()).head(n));
            }
        }
        out
    }

    /// The smallest and largest timestamp (seconds) over all events, if any.
    pub fn ts_range(&self) -> Option<(u32, u32)> {
        let min = self.ts.iter().copied().min()?;
        let max = self.ts.iter().copied().max()?;
        Some((min, max))
    }

    /// The largest full timestamp over all events, if any.
    pub fn last_timestamp(&self) -> Option<Timestamp> {
        (0..self.num_events())
            .map(|i| Timestamp {
                seconds: self.ts[i],
                millis: self.millis.get(i).copied().unwrap_or(0),
            })
            .max()
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

    /// The length of the longest session.
    pub fn longest_session(&self) -> usize {
        self.offsets
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventType::{Cart, Click};

    #[test]
    fn events_out_of_order_are_stably_sorted_with_their_milliseconds() {
        let mut log = SessionLog::new();
        log.push_session(1, &[9], &[5], &[Click]);
        log.push_session_millis(
            2,
            &[1, 2, 3],
            &[20, 20, 10],
            &[700, 300, 0],
            &[Click, Cart, Click],
        );
        assert_eq!(log.session(1).aids, &[3, 2, 1]);
        assert_eq!(log.session(1).millis, &[0, 300, 700]);
        assert_eq!(
            log.session(0).millis,
            &[0],
            "earlier events get zero milliseconds"
        );
        assert_eq!(log.last_timestamp().unwrap().as_millis(), 20_700);
        let early = log.before(Timestamp {
            seconds: 20,
            millis: 300,
        });
        assert_eq!(early.session_ids, vec![1, 2]);
        assert_eq!(early.session(1).aids, &[3]);
    }

    #[test]
    fn whole_seconds_keep_no_millisecond_column() {
        let mut log = SessionLog::new();
        log.push_session_millis(1, &[1, 2], &[1, 2], &[0, 0], &[Click, Click]);
        assert!(!log.has_millis());
        let mut other = SessionLog::new();
        other.push_session_millis(2, &[3], &[3], &[5], &[Click]);
        log.append(&other);
        assert_eq!(log.millis, vec![0, 0, 5]);
    }
}
