//! The internal transport between components in split mode: HTTP/JSON
//! calls `POST /internal/<component>/<method>`, the body a JSON array of
//! the method's arguments, the answer the JSON result (2xx) or a
//! [`WireError`] (4xx/5xx). The gateway never routes `/internal/…`; only
//! component processes serve it.
//!
//! [`RpcClient`] sends calls through a [`Pool`] (balancing, health,
//! breakers, timeouts, retries within a budget). Its callers say whether a
//! call only reads ([`RpcClient::read`], retried on failure) or changes
//! state ([`RpcClient::write`], moved to another instance only when it
//! never reached the first).

use crate::pool::{AttemptError, DRAINING_HEADER, ExecuteError, Pool, PoolSettings};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
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

/// A component's client: calls its instances through a [`Pool`], which
/// balances, ejects failing instances and retries within its budget.
#[derive(Clone)]
pub struct RpcClient {
    component: &'static str,
    pool: Pool,
    http: reqwest::Client,
}

impl RpcClient {
    /// `addresses` are `host:port` (or `http://host:port`) of the
    /// component's instances, optionally followed by ` weight=N`.
    pub fn new(component: &'static str, addresses: &[String], settings: PoolSettings) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client with static settings builds");
        Ok(RpcClient { component, pool: Pool::new(component, addresses, settings)?, http })
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A call that only reads: retried on another instance when one fails.
    pub async fn read<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &str,
        args: &A,
    ) -> Result<R, CallError> {
        self.call(method, args, None, true).await
    }

    /// A read with an affinity key (see `Policy::ConsistentHash`).
    pub async fn read_keyed<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &str,
        key: &str,
        args: &A,
    ) -> Result<R, CallError> {
        self.call(method, args, Some(key), true).await
    }

    /// A call that changes state: moved to another instance only when it
    /// provably never reached the first.
    pub async fn write<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &str,
        args: &A,
    ) -> Result<R, CallError> {
        self.call(method, args, None, false).await
    }

    async fn call<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &str,
        args: &A,
        key: Option<&str>,
        idempotent: bool,
    ) -> Result<R, CallError> {
        let body = serde_json::to_vec(args)
            .map_err(|e| CallError::Remote(WireError::new("bad_request", format!("unserialisable arguments: {e}"))))?;
        let body = bytes::Bytes::from(body);
        let outcome = self
            .pool
            .execute(key, idempotent, |backend| {
                let url = format!("{}/internal/{}/{method}", backend.base, self.component);
                let mut request =
                    self.http.post(&url).header(http::header::CONTENT_TYPE, "application/json").body(body.clone());
                if let Some(tp) = crate::trace::current() {
                    request = request.header(crate::trace::HEADER, crate::trace::child_of(&tp));
                }
                let pool = &self.pool;
                async move {
                    let resp = match request.send().await {
                        Ok(r) => r,
                        Err(e) if e.is_connect() => return Err(AttemptError::NotSent(format!("{url}: {e}"))),
                        Err(e) => return Err(AttemptError::Failed(format!("{url}: {e}"))),
                    };
                    if resp.headers().contains_key(DRAINING_HEADER) {
                        pool.draining(&backend);
                    }
                    let status = resp.status();
                    let body = resp.bytes().await.map_err(|e| AttemptError::Failed(format!("{url}: {e}")))?;
                    if status.is_success() {
                        return serde_json::from_slice::<R>(&body).map_err(|e| {
                            AttemptError::Answer(CallError::Remote(WireError::new(
                                "unexpected",
                                format!("{url} answered unreadable JSON: {e}"),
                            )))
                        });
                    }
                    Err(match serde_json::from_slice::<WireError>(&body) {
                        Ok(e) if e.kind == "unavailable" => AttemptError::Failed(format!("{url}: {}", e.message)),
                        Ok(e) => AttemptError::Answer(CallError::Remote(e)),
                        Err(_) => AttemptError::Failed(format!("{url} answered {status}")),
                    })
                }
            })
            .await;
        outcome.map_err(|e| match e {
            ExecuteError::Answer(e) => e,
            ExecuteError::Unavailable(m) => CallError::Unavailable(m),
        })
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
