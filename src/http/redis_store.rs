//! Live sessions in Redis (`serve --session-store redis://HOST:PORT`), so that replicas
//! behind a load balancer share them: events sent through one replica are read by any.
//!
//! Each session is one string key, `{prefix}s:{id}`, holding its events in time order as
//! `aid:ts:type` separated by commas, with the TTL as the key's expiry; a sorted set,
//! `{prefix}lru`, scores every session by its last use (Redis's own clock), so the least
//! recently used are evicted beyond `--max-sessions`. Every operation is one Lua script, so
//! a batch is appended whole or not at all, and the rules (duplicates, the bound, older
//! events) are those of the embedded store ([`crate::live::insert_event`]).
//!
//! When Redis cannot be reached every call fails at once with [`Unavailable`] (no request
//! waits on a dead server for more than the connect timeout), and the next call after a
//! second tries again, so the server recovers by itself when Redis is back.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::{Client, Connection, Script};

use crate::domain::EventType;
use crate::live::{
    Appended, Counters, LiveEvent, SessionId, SessionStore, StoreLimits, StoreStats, Unavailable,
};

/// Time to connect, and to wait for an answer, before Redis counts as unreachable.
const TIMEOUT: Duration = Duration::from_millis(500);
/// After a failure, calls fail at once for this long before a new connection is tried.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Connections kept open for reuse.
const POOL: usize = 16;

const APPEND: &str = r#"
local prefix, bound, ttl, max = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1])
local order = now * 1000000 + tonumber(t[2])
local lru = prefix .. 'lru'
local expired = redis.call('ZREMRANGEBYSCORE', lru, '-inf', (now - ttl) * 1000000)
local sessions, touched = {}, {}
local stored, duplicates, older = 0, 0, 0
for i = 5, #ARGV, 4 do
  local id = ARGV[i]
  local aid, ts, kind = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local s = sessions[id]
  if s == nil then
    s = {}
    local held = redis.call('GET', prefix .. 's:' .. id)
    if held then
      for a, b, c in string.gmatch(held, '(%d+):(%d+):(%d)') do
        s[#s + 1] = {tonumber(a), tonumber(b), tonumber(c)}
      end
    end
    sessions[id] = s
    touched[#touched + 1] = id
  end
  local duplicate = false
  for _, e in ipairs(s) do
    if e[1] == aid and e[2] == ts and e[3] == kind then duplicate = true break end
  end
  if duplicate then
    duplicates = duplicates + 1
  elseif #s >= bound and ts <= s[1][2] then
    older = older + 1
  else
    local at = #s + 1
    while at > 1 and s[at - 1][2] > ts do at = at - 1 end
    table.insert(s, at, {aid, ts, kind})
    while #s > bound do table.remove(s, 1) end
    stored = stored + 1
  end
end
for _, id in ipairs(touched) do
  local parts = {}
  for j, e in ipairs(sessions[id]) do
    parts[j] = string.format('%d:%d:%d', e[1], e[2], e[3])
  end
  redis.call('SET', prefix .. 's:' .. id, table.concat(parts, ','), 'EX', ttl)
  redis.call('ZADD', lru, order, id)
end
local evicted = 0
local excess = redis.call('ZCARD', lru) - max
if excess > 0 then
  local popped = redis.call('ZPOPMIN', lru, excess)
  for j = 1, #popped, 2 do redis.call('DEL', prefix .. 's:' .. popped[j]) end
  evicted = excess
end
return {stored, duplicates, older, evicted, expired}
"#;

const GET: &str = r#"
local key = ARGV[1] .. 's:' .. ARGV[2]
local held = redis.call('GET', key)
if not held then
  redis.call('ZREM', ARGV[1] .. 'lru', ARGV[2])
  return false
end
local t = redis.call('TIME')
redis.call('EXPIRE', key, tonumber(ARGV[3]))
redis.call('ZADD', ARGV[1] .. 'lru', tonumber(t[1]) * 1000000 + tonumber(t[2]), ARGV[2])
return held
"#;

const DELETE: &str = r#"
redis.call('ZREM', ARGV[1] .. 'lru', ARGV[2])
return redis.call('DEL', ARGV[1] .. 's:' .. ARGV[2])
"#;

const EXPIRE: &str = r#"
local t = redis.call('TIME')
return redis.call('ZREMRANGEBYSCORE', ARGV[1] .. 'lru', '-inf', (tonumber(t[1]) - tonumber(ARGV[2])) * 1000000)
"#;

/// Sessions in a Redis server.
pub struct RedisStore {
    client: Client,
    url: String,
    prefix: String,
    limits: StoreLimits,
    pool: Mutex<Vec<Connection>>,
    failed_at: Mutex<Option<Instant>>,
    scripts: [Script; 4],
    counters: Counters,
}

impl RedisStore {
    /// A store on the server at `url` (`redis://HOST:PORT[/DB]`), its keys under `prefix`.
    /// Fails only on a URL that is not a Redis URL: the server may come up later.
    pub fn new(url: &str, prefix: &str, limits: StoreLimits) -> Result<Self, String> {
        let client = Client::open(url).map_err(|e| format!("{url}: {e}"))?;
        Ok(RedisStore {
            client,
            url: url.to_string(),
            prefix: prefix.to_string(),
            limits,
            pool: Mutex::new(Vec::new()),
            failed_at: Mutex::new(None),
            scripts: [
                Script::new(APPEND),
                Script::new(GET),
                Script::new(DELETE),
                Script::new(EXPIRE),
            ],
            counters: Counters::default(),
        })
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> Unavailable {
        Unavailable(format!("Redis at {}: {e}", self.url))
    }

    /// Runs `f` on a pooled connection; a connection that failed is dropped, and calls fail
    /// at once for [`RETRY_AFTER`] after a failure.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Unavailable> {
        let taken = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut connection = match taken {
            Some(c) => c,
            None => {
                if let Some(at) = *self.failed_at.lock().unwrap_or_else(|p| p.into_inner())
                    && at.elapsed() < RETRY_AFTER
                {
                    return Err(self.unavailable("unreachable, retrying shortly"));
                }
                let c = self
                    .client
                    .get_connection_with_timeout(TIMEOUT)
                    .map_err(|e| self.failed(e))?;
                c.set_read_timeout(Some(TIMEOUT))
                    .map_err(|e| self.failed(e))?;
                c.set_write_timeout(Some(TIMEOUT))
                    .map_err(|e| self.failed(e))?;
                c
            }
        };
        match f(&mut connection) {
            Ok(value) => {
                *self.failed_at.lock().unwrap_or_else(|p| p.into_inner()) = None;
                let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
                if pool.len() < POOL {
                    pool.push(connection);
                }
                Ok(value)
            }
            Err(e) => {
                // A connection that failed may be mid-answer: never reuse it.
                if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                    self.pool.lock().unwrap_or_else(|p| p.into_inner()).clear();
                }
                Err(self.failed(e))
            }
        }
    }

    fn failed(&self, e: redis::RedisError) -> Unavailable {
        *self.failed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        self.unavailable(e)
    }
}

/// The events of a stored value (`aid:ts:type,…`).
fn parse(held: &str) -> Option<Vec<LiveEvent>> {
    if held.is_empty() {
        return Some(Vec::new());
    }
    held.split(',')
        .map(|event| {
            let mut parts = event.split(':');
            let aid = parts.next()?.parse().ok()?;
            let ts = parts.next()?.parse().ok()?;
            let kind = EventType::from_code(parts.next()?.parse().ok()?)?;
            Some(LiveEvent { aid, ts, kind })
        })
        .collect()
}

impl SessionStore for RedisStore {
    fn append(&self, batch: &[(SessionId, LiveEvent)], _now: u64) -> Result<Appended, Unavailable> {
        let limits = self.limits;
        let (stored, duplicates, older, evicted, expired): (usize, usize, usize, u64, u64) =
            self.with(|c| {
                let mut call = self.scripts[0].prepare_invoke();
                call.arg(&self.prefix)
                    .arg(limits.events_per_session)
                    .arg(limits.ttl_secs)
                    .arg(limits.max_sessions);
                for (id, e) in batch {
                    call.arg(id.as_str()).arg(e.aid).arg(e.ts).arg(e.kind as u8);
                }
                call.invoke(c)
            })?;
        let appended = Appended {
            stored,
            duplicates,
            older,
        };
        self.counters.appended(appended);
        self.counters.evicted(evicted);
        self.counters.expired(expired);
        Ok(appended)
    }

    fn get(&self, id: &SessionId, _now: u64) -> Result<Option<Vec<LiveEvent>>, Unavailable> {
        let held: Option<String> = self.with(|c| {
            self.scripts[1]
                .prepare_invoke()
                .arg(&self.prefix)
                .arg(id.as_str())
                .arg(self.limits.ttl_secs)
                .invoke(c)
        })?;
        match held {
            None => Ok(None),
            Some(held) => parse(&held)
                .map(Some)
                .ok_or_else(|| self.unavailable(format!("session {:?} is damaged", id.as_str()))),
        }
    }

    fn delete(&self, id: &SessionId) -> Result<bool, Unavailable> {
        let deleted: u64 = self.with(|c| {
            self.scripts[2]
                .prepare_invoke()
                .arg(&self.prefix)
                .arg(id.as_str())
                .invoke(c)
        })?;
        if deleted > 0 {
            self.counters.deleted();
        }
        Ok(deleted > 0)
    }

    fn expire(&self, _now: u64) -> usize {
        let expired: u64 = self
            .with(|c| {
                self.scripts[3]
                    .prepare_invoke()
                    .arg(&self.prefix)
                    .arg(self.limits.ttl_secs)
                    .invoke(c)
            })
            .unwrap_or(0);
        self.counters.expired(expired);
        expired as usize
    }

    fn stats(&self) -> StoreStats {
        let sessions: u64 = self
            .with(|c| {
                redis::cmd("ZCARD")
                    .arg(format!("{}lru", self.prefix))
                    .query(c)
            })
            .unwrap_or(0);
        self.counters.stats(sessions as usize, None)
    }

    fn limits(&self) -> StoreLimits {
        self.limits
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    fn check(&self) -> Result<(), Unavailable> {
        self.with(|c| redis::cmd("PING").query::<String>(c))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_parse_back_and_damage_is_refused() {
        let events = parse("1:10:0,4294967295:4294967295:2").unwrap();
        assert_eq!(
            events,
            vec![
                LiveEvent {
                    aid: 1,
                    ts: 10,
                    kind: EventType::Click
                },
                LiveEvent {
                    aid: u32::MAX,
                    ts: u32::MAX,
                    kind: EventType::Order
                }
            ]
        );
        assert_eq!(parse(""), Some(Vec::new()));
        assert_eq!(parse("1:10"), None);
        assert_eq!(parse("1:10:7"), None);
    }

    #[test]
    fn an_unreachable_server_fails_at_once_and_is_tried_again_later() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = RedisStore::new(
            &format!("redis://127.0.0.1:{port}"),
            "t:",
            StoreLimits::default(),
        )
        .unwrap();
        let id = SessionId::new("a").unwrap();
        let e = store.get(&id, 0).unwrap_err();
        assert!(e.to_string().contains("Redis at redis://127.0.0.1"), "{e}");
        let started = Instant::now();
        assert!(store.get(&id, 0).is_err());
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "fails at once"
        );
        assert!(RedisStore::new("http://x", "t:", StoreLimits::default()).is_err());
    }
}
