//! How component errors become HTTP answers: the one place that decides
//! status codes for the gateway.

use platform::ApiError;

pub fn from_users(e: users::UsersError) -> ApiError {
    use users::UsersError::*;
    match e {
        Validation(m) => ApiError::validation(m),
        NotFound => ApiError::not_found(),
        Forbidden(m) => ApiError::forbidden(m),
        InvalidClient => ApiError::new(http::StatusCode::UNAUTHORIZED, "Client authentication failed"),
        InvalidGrant(m) => ApiError::bad_request(m),
        Conflict(what) => ApiError::validation(format!("{what} has already been taken")),
        Unavailable(m) => ApiError::unavailable(m),
        Unexpected(e) => ApiError::internal(e),
    }
}

pub fn from_posts(e: posts::PostsError) -> ApiError {
    use posts::PostsError::*;
    match e {
        Validation(m) => ApiError::validation(m),
        NotFound => ApiError::not_found(),
        Unavailable(m) => ApiError::unavailable(m),
        Unexpected(e) => ApiError::internal(e),
    }
}

pub fn from_timelines(e: timelines::TimelinesError) -> ApiError {
    match e {
        timelines::TimelinesError::Unavailable(m) => ApiError::unavailable(m),
        timelines::TimelinesError::Unexpected(e) => ApiError::internal(e),
    }
}

/// `?`-friendly conversions inside handlers.
pub trait OrApi<T> {
    fn or_api(self) -> Result<T, ApiError>;
}

impl<T> OrApi<T> for Result<T, users::UsersError> {
    fn or_api(self) -> Result<T, ApiError> {
        self.map_err(from_users)
    }
}
impl<T> OrApi<T> for Result<T, posts::PostsError> {
    fn or_api(self) -> Result<T, ApiError> {
        self.map_err(from_posts)
    }
}
impl<T> OrApi<T> for Result<T, timelines::TimelinesError> {
    fn or_api(self) -> Result<T, ApiError> {
        self.map_err(from_timelines)
    }
}
