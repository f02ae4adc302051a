//! API errors: one JSON shape for every error, `{"status":"error","code":...,"message":...}`
//! (`status` as the original service's clients read it, `code` a stable snake_case name
//! per kind), and one table from error to HTTP status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Why a session in a request is invalid (each a 422 with its own code).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSession {
    #[error(
        "aids, timestamps and event_types must have the same length (got {aids}, {timestamps}, {event_types})"
    )]
    LengthMismatch {
        aids: usize,
        timestamps: usize,
        event_types: usize,
    },
    #[error("the session is empty: send at least one event")]
    Empty,
    #[error("the session has {events} events; at most {max} are accepted")]
    TooManyEvents { events: usize, max: usize },
    #[error("aids[{index}] = {value} is not a valid aid (0..=4294967295)")]
    Aid { index: usize, value: i64 },
    #[error("timestamps[{index}] = {value} is not a valid Unix time")]
    Timestamp { index: usize, value: i64 },
    #[error("event_types[{index}] = {value} is not an event type (0 click, 1 cart, 2 order)")]
    EventType { index: usize, value: i64 },
    #[error("type {0:?} is not one of \"clicks\", \"carts\", \"orders\"")]
    Objective(String),
    #[error("k = {value} is out of range 1..={max}")]
    K { value: i64, max: usize },
    /// A field missing or of the wrong JSON type (serde's message).
    #[error("{0}")]
    Field(String),
    /// A session id that is not 1 to 128 bytes of printable ASCII.
    #[error("{0}")]
    SessionId(String),
    /// A batch of events without any.
    #[error("the batch is empty: send at least one event")]
    EmptyBatch,
    /// One event of a batch, by its index.
    #[error("events[{index}].{field} = {value} {problem}; nothing of the batch was stored")]
    Event {
        index: usize,
        field: &'static str,
        value: String,
        problem: &'static str,
        code: &'static str,
    },
}

impl InvalidSession {
    /// The error code.
    pub fn code(&self) -> &'static str {
        match self {
            InvalidSession::LengthMismatch { .. } => "length_mismatch",
            InvalidSession::Empty => "empty_session",
            InvalidSession::TooManyEvents { .. } => "too_many_events",
            InvalidSession::Aid { .. } => "invalid_aid",
            InvalidSession::Timestamp { .. } => "invalid_timestamp",
            InvalidSession::EventType { .. } => "invalid_event_type",
            InvalidSession::Objective(_) => "invalid_type",
            InvalidSession::K { .. } => "invalid_k",
            InvalidSession::Field(_) => "invalid_field",
            InvalidSession::SessionId(_) => "invalid_session_id",
            InvalidSession::EmptyBatch => "empty_batch",
            InvalidSession::Event { code, .. } => code,
        }
    }
}

/// The body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(example = json!({"status": "error", "code": "empty_session",
    "message": "the session is empty: send at least one event"}))]
pub struct ErrorBody {
    /// "error".
    pub status: &'static str,
    /// Stable, machine-readable: the README lists every code.
    pub code: &'static str,
    /// For people.
    pub message: String,
}

/// Everything a request can be refused for.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON.
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// Well-formed JSON that is not a valid session.
    #[error("{0}")]
    Invalid(#[from] InvalidSession),
    /// The body exceeds the limit.
    #[error("request body exceeds {0} bytes")]
    TooLarge(usize),
    /// No such route.
    #[error("no route {0}")]
    NotFound(String),
    /// The route exists with another method, `allow` (sent in the `Allow` header, as RFC
    /// 9110 asks of a 405).
    #[error("method {method} is not allowed here (allowed: {allow})")]
    MethodNotAllowed { method: String, allow: &'static str },
    /// An admin route without the right bearer token.
    #[error("this route needs Authorization: Bearer <OTTO_ADMIN_TOKEN>")]
    Unauthorized,
    /// More requests in flight than the limit.
    #[error("the server is handling {0} requests, its limit; retry shortly")]
    Overloaded(usize),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    Draining,
    /// A batch of more events than the limit.
    #[error("the batch has {events} events; at most {max} are accepted per request")]
    BatchTooLarge { events: usize, max: usize },
    /// No live session of this id.
    #[error("no live session {0:?} (never sent, expired, evicted or deleted)")]
    UnknownSession(String),
    /// The session store cannot answer; nothing was stored.
    #[error("{0}; nothing was stored, retry")]
    StoreUnavailable(String),
    /// A model reload failed; the previous model keeps serving.
    #[error("reload failed, the previous model keeps serving: {message}")]
    Reload { code: &'static str, message: String },
}

impl ApiError {
    /// The error code of the body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Malformed(_) => "malformed_json",
            ApiError::Invalid(e) => e.code(),
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Draining => "draining",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::Reload { code, .. } => code,
            ApiError::BatchTooLarge { .. } => "batch_too_large",
            ApiError::UnknownSession(_) => "unknown_session",
            ApiError::StoreUnavailable(_) => "store_unavailable",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) | ApiError::BatchTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) | ApiError::UnknownSession(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Draining | ApiError::Overloaded(_) | ApiError::StoreUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Reload { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::MethodNotAllowed { allow, .. } = self {
            response.insert_header((actix_web::http::header::ALLOW, *allow));
        }
        response.json(ErrorBody {
            status: "error",
            code: self.code(),
            message: self.to_string(),
        })
    }
}

impl From<crate::live::Unavailable> for ApiError {
    fn from(e: crate::live::Unavailable) -> Self {
        ApiError::StoreUnavailable(e.to_string())
    }
}

/// Maps a serde error: syntax errors are malformed JSON (400), type and shape errors an
/// invalid request (422).
pub fn from_serde(err: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => ApiError::Invalid(InvalidSession::Field(err.to_string())),
        Category::Syntax | Category::Eof | Category::Io => ApiError::Malformed(err.to_string()),
    }
}
