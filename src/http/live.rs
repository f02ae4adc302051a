//! The live-session routes (README.md, "Live sessions"): `POST /events` appends a batch of
//! events to the server-side sessions, `GET /sessions/{id}` shows what a session holds and
//! `DELETE /sessions/{id}` forgets it. `POST /predict` with a `session` reads the same store
//! (in the parent module).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{ApiError, ErrorBody, InvalidSession, from_serde};
use crate::domain::{EventType, Timestamp};
use crate::live::{LiveEvent, SessionId, SessionStore, StoreLimits};

/// Most events a `POST /events` batch may carry by default.
pub const DEFAULT_MAX_BATCH: usize = 1_000;

/// The store of live sessions and the bounds of the routes that fill it.
pub struct Live {
    pub store: Arc<dyn SessionStore>,
    /// Most events per `POST /events` batch (413 beyond).
    pub max_batch: usize,
}

impl Live {
    /// The embedded store with default bounds.
    pub fn in_memory(limits: StoreLimits) -> Self {
        Live {
            store: Arc::new(crate::live::MemoryStore::new(limits)),
            max_batch: DEFAULT_MAX_BATCH,
        }
    }
}

/// The server's clock for the store: Unix seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An event type as a code (0 click, 1 cart, 2 order) or a name ("clicks", "carts",
/// "orders").
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum TypeCode {
    Code(i64),
    Name(String),
}

/// The schema of [`TypeCode`]: one of the codes or one of the names.
fn type_code_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(2)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["clicks", "carts", "orders"])),
        )
        .description(Some("0 or \"clicks\", 1 or \"carts\", 2 or \"orders\""))
        .build()
        .into()
}

/// One event of a batch.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"session": "a81f3c", "aid": 429240, "ts": 1674210000, "type": 0}))]
pub struct WireEvent {
    /// The shopper's session id: 1 to 128 bytes of printable ASCII.
    #[schema(min_length = 1, max_length = 128, pattern = "^[ -~]{1,128}$")]
    pub session: String,
    /// Item id (0..=4294967295).
    #[schema(minimum = 0, maximum = 4294967295_i64)]
    pub aid: i64,
    /// Unix time of the event, seconds (as in `/predict`, milliseconds are read too).
    #[schema(minimum = 0)]
    pub ts: i64,
    #[serde(rename = "type")]
    #[schema(rename = "type", schema_with = type_code_schema)]
    pub kind: TypeCode,
}

/// A batch of events, in any order and for any sessions.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"events": [
    {"session": "a81f3c", "aid": 429240, "ts": 1674210000, "type": 0},
    {"session": "a81f3c", "aid": 588903, "ts": 1674210060, "type": "carts"}]}))]
pub struct EventsRequest {
    #[schema(min_items = 1, max_items = 1000)]
    pub events: Vec<WireEvent>,
}

/// What a batch did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventsResponse {
    /// "success".
    pub status: &'static str,
    /// Events kept.
    pub stored: usize,
    /// Events their session already held (delivered twice), not kept again.
    pub duplicates: usize,
    /// Events older than every event of a session that already holds `--session-events`
    /// events, not kept (they would be the first dropped).
    pub older: usize,
}

/// What a session holds, in time order: the body of a stateless `POST /predict` for it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionBody {
    pub session: String,
    pub aids: Vec<u32>,
    pub timestamps: Vec<u32>,
    /// 0 click, 1 cart, 2 order.
    pub event_types: Vec<u8>,
}

fn event_problem(
    index: usize,
    field: &'static str,
    value: String,
    problem: &'static str,
    code: &'static str,
) -> ApiError {
    InvalidSession::Event {
        index,
        field,
        value,
        problem,
        code,
    }
    .into()
}

/// A session id from a request, checked.
pub fn session_id(id: &str, field: &str) -> Result<SessionId, ApiError> {
    SessionId::new(id).map_err(|e| InvalidSession::SessionId(format!("{field}: {e}")).into())
}

/// The session id of a path: one that is not a valid id names no session (404).
fn path_id(id: &str) -> Result<SessionId, ApiError> {
    SessionId::new(id).map_err(|e| ApiError::UnknownSession(format!("{id} ({e})")))
}

/// A batch checked whole: the first bad event's index and problem, or every event.
fn check(request: EventsRequest, max: usize) -> Result<Vec<(SessionId, LiveEvent)>, ApiError> {
    let n = request.events.len();
    if n == 0 {
        return Err(InvalidSession::EmptyBatch.into());
    }
    if n > max {
        return Err(ApiError::BatchTooLarge { events: n, max });
    }
    let mut batch = Vec::with_capacity(n);
    for (index, e) in request.events.into_iter().enumerate() {
        let id = session_id(&e.session, &format!("events[{index}].session"))?;
        let aid = u32::try_from(e.aid).map_err(|_| {
            event_problem(
                index,
                "aid",
                e.aid.to_string(),
                "is not a valid aid (0..=4294967295)",
                "invalid_aid",
            )
        })?;
        let ts = u64::try_from(e.ts)
            .ok()
            .and_then(Timestamp::from_otto)
            .ok_or_else(|| {
                event_problem(
                    index,
                    "ts",
                    e.ts.to_string(),
                    "is not a valid Unix time",
                    "invalid_timestamp",
                )
            })?;
        let kind = match &e.kind {
            TypeCode::Code(code) => EventType::from_code(*code),
            TypeCode::Name(name) => EventType::from_name(name),
        }
        .ok_or_else(|| {
            let value = match &e.kind {
                TypeCode::Code(code) => code.to_string(),
                TypeCode::Name(name) => format!("{name:?}"),
            };
            event_problem(
                index,
                "type",
                value,
                "is not an event type (0 or \"clicks\", 1 or \"carts\", 2 or \"orders\")",
                "invalid_event_type",
            )
        })?;
        batch.push((
            id,
            LiveEvent {
                aid,
                ts: ts.seconds,
                kind,
            },
        ));
    }
    Ok(batch)
}

/// Appends a batch of events to their sessions. The batch is checked whole first: one bad
/// event refuses it all (nothing stored) with that event's index.
#[utoipa::path(post, path = "/events", tag = "live sessions", request_body = EventsRequest,
    responses(
        (status = 200, description = "Every event kept, or already held", body = EventsResponse),
        (status = 400, description = "`malformed_json`", body = ErrorBody),
        (status = 405, description = "`method_not_allowed`: /events takes POST only", body = ErrorBody),
        (status = 413, description = "`payload_too_large`, `batch_too_large`", body = ErrorBody),
        (status = 422, description = "`empty_batch`, `invalid_session_id`, `invalid_aid`, `invalid_timestamp`, `invalid_event_type`, `invalid_field`; nothing of the batch is stored", body = ErrorBody),
        (status = 503, description = "`overloaded`, `store_unavailable`: nothing stored, retry", body = ErrorBody),
    ))]
pub async fn post_events(
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let bytes = super::read_body(&state, body).await?;
    let request: EventsRequest = serde_json::from_slice(&bytes).map_err(from_serde)?;
    let batch = check(request, state.live.max_batch)?;
    let appended = state.live.store.append(&batch, now())?;
    Ok(HttpResponse::Ok().json(EventsResponse {
        status: "success",
        stored: appended.stored,
        duplicates: appended.duplicates,
        older: appended.older,
    }))
}

/// The events a session holds, oldest first.
#[utoipa::path(get, path = "/sessions/{id}", tag = "live sessions",
    params(("id" = String, Path, description = "The session id", pattern = "^[ -~]{1,128}$", min_length = 1, max_length = 128)),
    responses(
        (status = 200, body = SessionBody),
        (status = 404, description = "`unknown_session`: the store holds no such session (never sent, expired, evicted or deleted, or not a valid session id)", body = ErrorBody),
        (status = 405, description = "`method_not_allowed`", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    ))]
pub async fn get_session(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path)?;
    let events = state
        .live
        .store
        .get(&id, now())?
        .ok_or_else(|| ApiError::UnknownSession(id.as_str().to_string()))?;
    Ok(HttpResponse::Ok().json(SessionBody {
        session: id.as_str().to_string(),
        aids: events.iter().map(|e| e.aid).collect(),
        timestamps: events.iter().map(|e| e.ts).collect(),
        event_types: events.iter().map(|e| e.kind as u8).collect(),
    }))
}

/// Forgets a session and every event of it (an erasure request).
#[utoipa::path(delete, path = "/sessions/{id}", tag = "live sessions",
    params(("id" = String, Path, description = "The session id", pattern = "^[ -~]{1,128}$", min_length = 1, max_length = 128)),
    responses(
        (status = 204, description = "Forgotten"),
        (status = 404, description = "`unknown_session`: nothing held under this id", body = ErrorBody),
        (status = 405, description = "`method_not_allowed`", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    ))]
pub async fn delete_session(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path)?;
    let deleted = state.live.store.delete(&id)?;
    if deleted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::UnknownSession(id.as_str().to_string()))
    }
}

/// Drops expired sessions every `period` seconds (reads drop an expired session at once;
/// this frees the ones nobody asks for).
pub async fn sweep(store: Arc<dyn SessionStore>, period: u64) {
    let mut interval = actix_web::rt::time::interval(std::time::Duration::from_secs(period.max(1)));
    loop {
        interval.tick().await;
        let expired = store.expire(now());
        if expired > 0 {
            log::debug!("{expired} idle sessions expired");
        }
    }
}

/// The store's lines of `/metrics`.
pub fn render_metrics(store: &dyn SessionStore, out: &mut String) {
    use std::fmt::Write;
    let stats = store.stats();
    let limits = store.limits();
    let mut line = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    line(
        "otto_live_sessions",
        "gauge",
        "Live sessions held.",
        stats.sessions as u64,
    );
    if let Some(events) = stats.events {
        line(
            "otto_live_events",
            "gauge",
            "Events held in live sessions.",
            events as u64,
        );
    }
    line(
        "otto_live_events_ingested_total",
        "counter",
        "Events kept by POST /events.",
        stats.ingested,
    );
    line(
        "otto_live_events_duplicate_total",
        "counter",
        "Events not kept again because their session held them.",
        stats.duplicates,
    );
    line(
        "otto_live_events_older_total",
        "counter",
        "Events not kept because they were older than every event of a full session.",
        stats.older,
    );
    line(
        "otto_live_sessions_evicted_total",
        "counter",
        "Least recently used sessions evicted at the session cap.",
        stats.evicted,
    );
    line(
        "otto_live_sessions_expired_total",
        "counter",
        "Sessions expired after the TTL.",
        stats.expired,
    );
    line(
        "otto_live_sessions_deleted_total",
        "counter",
        "Sessions deleted by DELETE /sessions/{id}.",
        stats.deleted,
    );
    line(
        "otto_live_max_sessions",
        "gauge",
        "The session cap (--max-sessions).",
        limits.max_sessions as u64,
    );
    line(
        "otto_live_events_per_session",
        "gauge",
        "Most recent events kept per session (--session-events).",
        limits.events_per_session as u64,
    );
    line(
        "otto_live_session_ttl_seconds",
        "gauge",
        "Idle time after which a session expires (--session-ttl).",
        limits.ttl_secs,
    );
}
