//! The embedded store's snapshot: every session with its events and last use, so that a
//! clean restart loses nothing (`serve --session-snapshot FILE`).
//!
//! Format (little-endian): the magic `OTTOLIVE`, a version (u32, 1), the number of
//! sessions (u64); per session its id's length (u8) and bytes, its last use (u64, seconds),
//! its number of events (u16) and each event's aid (u32), time (u32) and type code (u8); then
//! the FNV-1a hash (u64) of everything before it, so a truncated or damaged file is refused.

use std::io::{self, Read, Write};

use super::{LiveEvent, MemoryStore, SessionId, SessionStore};
use crate::domain::EventType;

const MAGIC: &[u8; 8] = b"OTTOLIVE";
const VERSION: u32 = 1;

/// Why a snapshot cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a session snapshot (it does not start with {MAGIC:?})")]
    NotASnapshot,
    #[error("snapshot version {0}; this build reads version {VERSION}")]
    Version(u32),
    #[error("the snapshot ends early (session {0}): the file is truncated")]
    Truncated(u64),
    #[error("the snapshot is damaged: {0}")]
    Damaged(String),
    #[error(transparent)]
    Io(io::Error),
}

/// FNV-1a over everything written or read through it.
struct Hashing<T> {
    inner: T,
    hash: u64,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Self {
        Hashing {
            inner,
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }

    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.hash ^= b as u64;
            self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.add(bytes);
        self.inner.write_all(bytes)
    }
}

impl<R: Read> Hashing<R> {
    fn take<const N: usize>(&mut self, session: u64) -> Result<[u8; N], SnapshotError> {
        let mut buf = [0u8; N];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => SnapshotError::Truncated(session),
                _ => SnapshotError::Io(e),
            })?;
        self.add(&buf);
        Ok(buf)
    }
}

/// Writes every session of `store` to `out`; the number written.
pub fn write(store: &MemoryStore, out: impl Write) -> io::Result<u64> {
    let sessions = store.sessions();
    let mut w = Hashing::new(out);
    w.put(MAGIC)?;
    w.put(&VERSION.to_le_bytes())?;
    w.put(&(sessions.len() as u64).to_le_bytes())?;
    for (id, events, last_used) in &sessions {
        let id = id.as_str().as_bytes();
        w.put(&[id.len() as u8])?;
        w.put(id)?;
        w.put(&last_used.to_le_bytes())?;
        w.put(&(events.len() as u16).to_le_bytes())?;
        for e in events {
            w.put(&e.aid.to_le_bytes())?;
            w.put(&e.ts.to_le_bytes())?;
            w.put(&[e.kind as u8])?;
        }
    }
    let hash = w.hash;
    w.inner.write_all(&hash.to_le_bytes())?;
    w.inner.flush()?;
    Ok(sessions.len() as u64)
}

/// Reads a snapshot into `store` (sessions beyond its bounds are evicted or cut as an
/// append would); the number of sessions read. Nothing is put in unless the whole file reads.
pub fn read(input: impl Read, store: &MemoryStore) -> Result<u64, SnapshotError> {
    let mut r = Hashing::new(input);
    if &r.take::<8>(0)? != MAGIC {
        return Err(SnapshotError::NotASnapshot);
    }
    let version = u32::from_le_bytes(r.take(0)?);
    if version != VERSION {
        return Err(SnapshotError::Version(version));
    }
    let count = u64::from_le_bytes(r.take(0)?);
    let bound = store.limits().events_per_session;
    let mut sessions = Vec::new();
    for s in 0..count {
        let [len] = r.take::<1>(s)?;
        let mut id = vec![0u8; len as usize];
        r.inner.read_exact(&mut id).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => SnapshotError::Truncated(s),
            _ => SnapshotError::Io(e),
        })?;
        r.add(&id);
        let id = std::str::from_utf8(&id)
            .ok()
            .and_then(|id| SessionId::new(id).ok())
            .ok_or_else(|| SnapshotError::Damaged(format!("session {s} has no valid id")))?;
        let last_used = u64::from_le_bytes(r.take(s)?);
        let n = u16::from_le_bytes(r.take(s)?) as usize;
        let mut events = Vec::with_capacity(n.min(bound));
        for _ in 0..n {
            let aid = u32::from_le_bytes(r.take(s)?);
            let ts = u32::from_le_bytes(r.take(s)?);
            let [code] = r.take::<1>(s)?;
            let kind = EventType::from_code(code as i64).ok_or_else(|| {
                SnapshotError::Damaged(format!("session {s} has an event of type {code}"))
            })?;
            events.push(LiveEvent { aid, ts, kind });
        }
        if events.len() > bound {
            events.drain(..events.len() - bound);
        }
        sessions.push((id, events, last_used));
    }
    let expected = r.hash;
    let mut stored = [0u8; 8];
    r.inner
        .read_exact(&mut stored)
        .map_err(|_| SnapshotError::Truncated(count))?;
    if u64::from_le_bytes(stored) != expected {
        return Err(SnapshotError::Damaged(
            "its checksum does not match its contents".into(),
        ));
    }
    let mut extra = [0u8; 1];
    if r.inner.read(&mut extra).map_err(SnapshotError::Io)? != 0 {
        return Err(SnapshotError::Damaged("bytes follow its checksum".into()));
    }
    for (id, events, last_used) in sessions {
        store.restore(&id, events, last_used);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::StoreLimits;

    fn filled() -> MemoryStore {
        let store = MemoryStore::new(StoreLimits::default());
        let id = |s: &str| SessionId::new(s).unwrap();
        let ev = |aid, ts, kind| LiveEvent { aid, ts, kind };
        store
            .append(
                &[
                    (id("a"), ev(1, 10, EventType::Click)),
                    (id("b"), ev(u32::MAX, 20, EventType::Order)),
                    (id("a"), ev(2, 11, EventType::Cart)),
                ],
                100,
            )
            .unwrap();
        store
            .append(&[(id("c"), ev(3, 30, EventType::Click))], 200)
            .unwrap();
        store
    }

    #[test]
    fn a_snapshot_restores_every_session_and_its_use_order() {
        let store = filled();
        let mut bytes = Vec::new();
        assert_eq!(write(&store, &mut bytes).unwrap(), 3);
        let again = MemoryStore::new(StoreLimits::default());
        assert_eq!(read(&bytes[..], &again).unwrap(), 3);
        assert_eq!(again.sessions(), store.sessions());
        assert_eq!(again.stats().events, Some(4));
    }

    #[test]
    fn a_truncated_or_damaged_snapshot_is_refused_and_nothing_is_read() {
        let mut bytes = Vec::new();
        write(&filled(), &mut bytes).unwrap();
        let empty = MemoryStore::new(StoreLimits::default());
        for cut in [0, 5, 20, bytes.len() - 1] {
            let err = read(&bytes[..cut], &empty).unwrap_err();
            assert!(
                matches!(
                    err,
                    SnapshotError::Truncated(_) | SnapshotError::NotASnapshot
                ),
                "{cut}: {err}"
            );
        }
        let mut damaged = bytes.clone();
        damaged[30] ^= 0x40;
        assert!(read(&damaged[..], &empty).is_err());
        let mut version = bytes.clone();
        version[8] = 9;
        assert!(matches!(
            read(&version[..], &empty),
            Err(SnapshotError::Version(9))
        ));
        assert_eq!(empty.stats().sessions, 0);
    }
}
