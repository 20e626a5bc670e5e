//! Mastodon's error envelope: `{"error": "…"}` (plus `details` for
//! validation failures), with the status code chosen in one place per
//! failure kind. Server errors are logged with their cause and answered
//! with an opaque message.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds a client should wait (sets `Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), details: None, retry_after: None }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, m)
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "The access token is invalid")
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, m)
    }
    pub fn out_of_scope() -> Self {
        Self::forbidden("This action is outside the authorized scopes")
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Record not found")
    }
    pub fn unprocessable(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, m)
    }
    /// `Validation failed: <what>` as Mastodon phrases model errors.
    pub fn validation(what: impl std::fmt::Display) -> Self {
        Self::unprocessable(format!("Validation failed: {what}"))
    }
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "dependency unavailable");
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "Service temporarily unavailable, try again shortly");
        e.retry_after = Some(1);
        e
    }
    /// A bug or an unexpected failure: logged in full, answered opaquely.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let cause = cause.into();
        tracing::error!(error = %format!("{cause:#}"), "request failed unexpectedly");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(d) = self.details {
            body["details"] = d;
        }
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

/// Routes nobody defined answer in the same envelope.
pub async fn fallback_not_found() -> ApiError {
    ApiError::not_found()
}
