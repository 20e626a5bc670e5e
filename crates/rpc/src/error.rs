//! One error vocabulary across the wire: every component's error maps to
//! an [`ErrorKind`] once (its [`ComponentError`] impl), the wire carries
//! the kind and a message, and the gateway maps kinds to HTTP statuses in
//! one place (`gateway::errors`).

use serde::{Deserialize, Serialize};

/// What kind of failure an error is, whichever component raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input breaks a rule of the domain (Mastodon's 422).
    Validation,
    /// The request is malformed or names a grant that is not valid
    /// (OAuth's `invalid_grant`; a call the dispatcher cannot decode).
    BadRequest,
    /// The caller's credentials are not accepted (OAuth's `invalid_client`).
    Unauthorized,
    /// The caller may not do this.
    Forbidden,
    /// No such record, or one the caller may not see.
    NotFound,
    /// A unique value is already taken.
    Conflict,
    /// A dependency (store, cache, another component) cannot be reached
    /// now; worth retrying shortly.
    Unavailable,
    /// A bug or an unforeseen failure; its cause is logged where it
    /// happened and never crosses the wire.
    Unexpected,
}

impl ErrorKind {
    /// The status a component process answers a failed call with; the
    /// pool treats 5xx as the instance's failure (eject, retry reads).
    pub fn wire_status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            ErrorKind::Unavailable => S::SERVICE_UNAVAILABLE,
            ErrorKind::Unexpected => S::INTERNAL_SERVER_ERROR,
            ErrorKind::BadRequest => S::BAD_REQUEST,
            ErrorKind::Unauthorized => S::UNAUTHORIZED,
            ErrorKind::Forbidden => S::FORBIDDEN,
            ErrorKind::NotFound => S::NOT_FOUND,
            ErrorKind::Validation | ErrorKind::Conflict => S::UNPROCESSABLE_ENTITY,
        }
    }
}

/// An error crossing the wire: its kind and a message for people.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct WireError {
    pub kind: ErrorKind,
    pub message: String,
}

impl WireError {
    pub fn new(kind: ErrorKind, message: impl std::fmt::Display) -> Self {
        WireError { kind, message: message.to_string() }
    }

    pub fn no_method(component: &str, method: &str) -> Self {
        Self::new(ErrorKind::BadRequest, format!("{component} has no method {method:?}"))
    }
}

/// Why a call failed: the remote component answered with an error, or it
/// could not be reached in time (the caller's 503).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Remote(WireError),
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// A component's error type, mapped to the shared vocabulary once.
pub trait ComponentError: std::error::Error + Send + Sync + Sized + 'static {
    fn kind(&self) -> ErrorKind;

    /// What travels beside the kind, enough for [`Self::from_wire`] to
    /// rebuild the error (default: the message).
    fn detail(&self) -> String {
        self.to_string()
    }

    /// The error as the caller's side of the wire rebuilds it.
    fn from_wire(kind: ErrorKind, detail: String) -> Self;

    /// A failed call as this component's error.
    fn from_call(e: CallError) -> Self {
        match e {
            CallError::Remote(w) => Self::from_wire(w.kind, w.message),
            CallError::Unavailable(m) => Self::from_wire(ErrorKind::Unavailable, m),
        }
    }
}

/// A component's error as it crosses the wire. An unexpected one is logged
/// here with its cause chain, and only its kind leaves the process.
pub fn to_wire<E: ComponentError>(component: &str, e: E) -> WireError {
    match e.kind() {
        ErrorKind::Unexpected => {
            let full = format!("{:#}", Chain(&e));
            tracing::error!(error = %full, component, "internal call failed");
            WireError::new(ErrorKind::Unexpected, format!("internal error in {component}"))
        }
        kind => WireError { kind, message: e.detail() },
    }
}

/// `a: b: c` over an error's sources, as anyhow's `{:#}` prints it.
struct Chain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}
