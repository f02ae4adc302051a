//! API errors: one JSON shape for all (`{"status":"error","message":...}`) and one table
//! from error to HTTP status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Everything a request can be refused for.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON.
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// Well-formed JSON that is not a valid session.
    #[error("{0}")]
    Invalid(String),
    /// The body exceeds the limit.
    #[error("request body exceeds {0} bytes")]
    TooLarge(usize),
    /// No such route.
    #[error("no route {0}")]
    NotFound(String),
    /// The route exists with other methods.
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .json(serde_json::json!({"status": "error", "message": self.to_string()}))
    }
}

/// Maps a serde error: syntax errors are malformed JSON (400), type and shape errors an
/// invalid request (422).
pub fn from_serde(err: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => ApiError::Invalid(err.to_string()),
        Category::Syntax | Category::Eof | Category::Io => ApiError::Malformed(err.to_string()),
    }
}
