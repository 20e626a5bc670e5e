//! The internal transport between components in split mode: HTTP/JSON
//! calls `POST /internal/<component>/<method>`, the body a JSON array of
//! the method's arguments, the answer the JSON result (2xx) or a
//! [`WireError`] (4xx/5xx). The gateway never routes `/internal/…`; only
//! component processes serve it.
//!
//! [`RpcClient`] is the client-side pool: a fixed list of addresses (IPs
//! or DNS names, resolved by the HTTP client on each new connection),
//! round-robin, a timeout per call, and failover to the next address when
//! one cannot be connected to — the request never reached it, so moving on
//! is safe for any call. Richer balancing and health checks build on this.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// An error crossing the wire: a machine-readable kind and a message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WireError {
    pub kind: String,
    pub message: String,
}

impl WireError {
    pub fn new(kind: &str, message: impl std::fmt::Display) -> Self {
        WireError { kind: kind.to_string(), message: message.to_string() }
    }
}

/// Why a call failed: the remote component answered with an error, or it
/// could not be reached in time (retryable; the caller's 503).
#[derive(Debug)]
pub enum CallError {
    Remote(WireError),
    Unavailable(String),
}

impl std::error::Error for CallError {}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Remote(e) => write!(f, "{}: {}", e.kind, e.message),
            CallError::Unavailable(m) => write!(f, "unavailable: {m}"),
        }
    }
}

/// Serialises a handler's outcome for the wire.
pub fn reply<T: Serialize>(result: Result<T, WireError>) -> Response {
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => {
            let status = match e.kind.as_str() {
                "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
                "unexpected" => StatusCode::INTERNAL_SERVER_ERROR,
                "bad_request" => StatusCode::BAD_REQUEST,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            (status, axum::Json(e)).into_response()
        }
    }
}

/// Parses a call's arguments; a body that does not fit is the caller's bug.
pub fn args<A: DeserializeOwned>(body: &[u8]) -> Result<A, WireError> {
    serde_json::from_slice(body).map_err(|e| WireError::new("bad_request", format!("bad arguments: {e}")))
}

#[derive(Clone)]
pub struct RpcClient {
    component: &'static str,
    addresses: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    http: reqwest::Client,
    timeout: Duration,
}

impl RpcClient {
    /// `addresses` are `host:port` (or full `http://` URLs) of the
    /// component's instances.
    pub fn new(component: &'static str, addresses: Vec<String>, timeout: Duration) -> Self {
        assert!(!addresses.is_empty(), "a pool for {component} needs at least one address");
        let addresses = addresses
            .into_iter()
            .map(|a| if a.starts_with("http") { a.trim_end_matches('/').to_string() } else { format!("http://{a}") })
            .collect();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client with static settings builds");
        RpcClient { component, addresses: Arc::new(addresses), next: Arc::new(AtomicUsize::new(0)), http, timeout }
    }

    pub async fn call<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &str,
        args: &A,
    ) -> Result<R, CallError> {
        let n = self.addresses.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last = String::new();
        for i in 0..n {
            let base = &self.addresses[(start + i) % n];
            let url = format!("{base}/internal/{}/{method}", self.component);
            let mut request = self.http.post(&url).json(args).timeout(self.timeout);
            if let Some(tp) = crate::trace::current() {
                request = request.header(crate::trace::HEADER, crate::trace::child_of(&tp));
            }
            let sent = request.send().await;
            let resp = match sent {
                Ok(r) => r,
                // Not connected: the request never arrived, try the next one.
                Err(e) if e.is_connect() => {
                    last = format!("{url}: {e}");
                    continue;
                }
                Err(e) => return Err(CallError::Unavailable(format!("{url}: {e}"))),
            };
            let status = resp.status();
            let body = resp.bytes().await.map_err(|e| CallError::Unavailable(format!("{url}: {e}")))?;
            if status.is_success() {
                return serde_json::from_slice(&body).map_err(|e| {
                    CallError::Remote(WireError::new("unexpected", format!("{url} answered unreadable JSON: {e}")))
                });
            }
            return Err(match serde_json::from_slice::<WireError>(&body) {
                Ok(e) if e.kind == "unavailable" => CallError::Unavailable(e.message),
                Ok(e) => CallError::Remote(e),
                Err(_) => CallError::Unavailable(format!("{url} answered {status}")),
            });
        }
        Err(CallError::Unavailable(format!("no {} instance reachable ({last})", self.component)))
    }
}

/// One arm of a component's internal dispatcher: decodes the arguments
/// `($name: Type, …)` from the request body, awaits `$call` and answers
/// with its result, errors mapped by `$to_wire`.
#[macro_export]
macro_rules! rpc_call {
    ($body:expr, $to_wire:expr, ($($a:ident: $t:ty),*) => $call:expr) => {{
        match $crate::rpc::args::<($($t,)*)>(&$body) {
            Ok(($($a,)*)) => $crate::rpc::reply($call.await.map_err($to_wire)),
            Err(e) => $crate::rpc::reply::<()>(Err(e)),
        }
    }};
}
