//! How component errors become HTTP answers: the one place that decides
//! status codes for the gateway. Every component's error carries a kind
//! from the shared vocabulary (`rpc::ErrorKind`), so one mapping serves
//! them all, in-process and across the wire alike.

use http::StatusCode;
use platform::ApiError;
use rpc::{ComponentError, ErrorKind};

/// A component's error as the client sees it.
pub fn to_api<E: ComponentError>(e: E) -> ApiError {
    match e.kind() {
        ErrorKind::Validation | ErrorKind::Conflict => ApiError::validation(e),
        ErrorKind::BadRequest => ApiError::bad_request(e.to_string()),
        ErrorKind::Unauthorized => ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()),
        ErrorKind::Forbidden => ApiError::forbidden(e.to_string()),
        ErrorKind::NotFound => ApiError::not_found(),
        ErrorKind::Unavailable => ApiError::unavailable(e),
        ErrorKind::Unexpected => ApiError::internal(e),
    }
}

/// `?`-friendly conversions inside handlers.
pub trait OrApi<T> {
    fn or_api(self) -> Result<T, ApiError>;
}

impl<T, E: ComponentError> OrApi<T> for Result<T, E> {
    fn or_api(self) -> Result<T, ApiError> {
        self.map_err(to_api)
    }
}
