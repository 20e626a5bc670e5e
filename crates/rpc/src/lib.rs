//! The internal transport between components in split mode.
//!
//! A component's API is declared once, as a trait marked with
//! [`component_api`]; each method is `#[read]` (safe to retry on another
//! instance) or `#[write]` (never retried once it may have been sent).
//! The declaration yields the remote client, the server-side dispatcher
//! ([`Api`], served by [`router`]) and a forwarding trait for wrappers.
//!
//! On the wire a call is `POST /internal/<component>/<method>`, the body
//! the method's arguments as one tuple, the answer the result (2xx) or a
//! [`WireError`] (4xx/5xx), both encoded by [`codec`]. The gateway never
//! routes `/internal/…`; only component processes serve it.
//!
//! [`RpcClient`] sends calls through a [`pool::Pool`] (balancing, health,
//! breakers, timeouts, retries within a budget) over a [`Transport`]
//! (HTTP by default; tests inject faults through their own).
//!
//! What does not build:
//!
//! A method that is neither read nor write:
//! ```compile_fail
//! #[derive(Debug, thiserror::Error)]
//! #[error("failed")]
//! pub struct E;
//! # impl rpc::ComponentError for E {
//! #     fn kind(&self) -> rpc::ErrorKind { rpc::ErrorKind::Unexpected }
//! #     fn from_wire(_: rpc::ErrorKind, _: String) -> Self { E }
//! # }
//! #[rpc::component_api(component = "demo", remote = RemoteDemo)]
//! pub trait DemoApi: Send + Sync + 'static {
//!     async fn count(&self) -> Result<u64, E>;
//! }
//! ```
//!
//! An implementation that leaves out a declared method (the dispatcher
//! and the remote client are generated from the declaration, so the
//! implementation is the only place a method can be missing):
//! ```compile_fail,E0046
//! # #[derive(Debug, thiserror::Error)]
//! # #[error("failed")]
//! # pub struct E;
//! # impl rpc::ComponentError for E {
//! #     fn kind(&self) -> rpc::ErrorKind { rpc::ErrorKind::Unexpected }
//! #     fn from_wire(_: rpc::ErrorKind, _: String) -> Self { E }
//! # }
//! #[rpc::component_api(component = "demo", remote = RemoteDemo)]
//! pub trait DemoApi: Send + Sync + 'static {
//!     #[read]
//!     async fn count(&self) -> Result<u64, E>;
//!     #[write]
//!     async fn bump(&self) -> Result<u64, E>;
//! }
//! struct Demo;
//! #[async_trait::async_trait]
//! impl DemoApi for Demo {
//!     async fn count(&self) -> Result<u64, E> { Ok(1) }
//! }
//! ```
//!
//! The same declaration with both methods implemented builds:
//! ```
//! # #[derive(Debug, thiserror::Error)]
//! # #[error("failed")]
//! # pub struct E;
//! # impl rpc::ComponentError for E {
//! #     fn kind(&self) -> rpc::ErrorKind { rpc::ErrorKind::Unexpected }
//! #     fn from_wire(_: rpc::ErrorKind, _: String) -> Self { E }
//! # }
//! #[rpc::component_api(component = "demo", remote = RemoteDemo)]
//! pub trait DemoApi: Send + Sync + 'static {
//!     #[read]
//!     async fn count(&self) -> Result<u64, E>;
//!     #[write]
//!     async fn bump(&self) -> Result<u64, E>;
//! }
//! struct Demo;
//! #[async_trait::async_trait]
//! impl DemoApi for Demo {
//!     async fn count(&self) -> Result<u64, E> { Ok(1) }
//!     async fn bump(&self) -> Result<u64, E> { Ok(2) }
//! }
//! use rpc::Api as _;
//! assert_eq!(<dyn DemoApi>::METHODS.len(), 2);
//! ```
#![forbid(unsafe_code)]

mod client;
pub mod codec;
mod error;

pub use client::{HttpTransport, RpcClient, Transport};
pub use error::{CallError, ComponentError, ErrorKind, WireError, to_wire};
pub use rpc_macros::component_api;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::future::BoxFuture;
use std::sync::Arc;

/// Whether a call only reads (retried on another instance when one fails)
/// or changes state (moved to another instance only when it provably never
/// reached the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Read,
    Write,
}

/// One method of a component API, as declared.
#[derive(Debug, Clone, Copy)]
pub struct Method {
    pub name: &'static str,
    pub kind: CallKind,
}

/// What [`component_api`] generates for `dyn Trait`: the component's name,
/// its methods, the remote client and the dispatcher.
pub trait Api: Send + Sync + 'static {
    const COMPONENT: &'static str;
    const METHODS: &'static [Method];

    /// The API over the network, through `client`'s pool.
    fn remote(client: RpcClient) -> Arc<Self>;

    /// Decodes `args`, calls `method` on `api` and encodes its answer.
    fn dispatch<'a>(api: &'a Self, method: &'a str, args: Bytes) -> BoxFuture<'a, Result<Bytes, WireError>>;
}

/// The header an internal call proves itself in (split mode).
pub const SECRET_HEADER: &str = "x-aviary-internal-secret";

/// The secrets a process accepts on its internal routes: the one callers
/// send now and, while it is being rotated out, the one before. Callers
/// send the first. Without secrets (all-in-one, where no internal route is
/// served) nothing is checked.
#[derive(Clone, Default)]
pub struct Secrets(Vec<String>);

impl Secrets {
    pub fn new(secrets: Vec<String>) -> Secrets {
        Secrets(secrets)
    }

    /// What this process sends.
    pub fn current(&self) -> Option<String> {
        self.0.first().cloned()
    }

    fn accepts(&self, offered: &[u8]) -> bool {
        // Every secret is compared, each without an early exit.
        self.0.iter().fold(false, |any, s| {
            let same = s.len() == offered.len() && s.bytes().zip(offered).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
            any | same
        })
    }
}

/// Middleware for internal routes: a call without an accepted secret is
/// refused (401), and logged, since it means a caller is misconfigured or
/// someone on the network is probing.
pub async fn require_secret(
    State(secrets): State<Arc<Secrets>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let offered = req.headers().get(SECRET_HEADER).map(|v| v.as_bytes());
    if offered.is_some_and(|o| secrets.accepts(o)) {
        return next.run(req).await;
    }
    tracing::warn!(
        path = %req.uri().path(),
        offered = offered.is_some(),
        "internal call refused: no accepted secret (the caller's internal.secrets must start with one of this process's)"
    );
    let e = WireError::new(
        ErrorKind::Unexpected,
        "internal call refused: the caller's internal.secrets[0] is not accepted here".to_string(),
    );
    let body = codec::encode(&e).unwrap_or_default();
    (http::StatusCode::UNAUTHORIZED, [(http::header::CONTENT_TYPE, codec::CONTENT_TYPE)], body).into_response()
}

/// Serves `api` to other components under `/internal/<component>/<method>`.
pub fn router<A: Api + ?Sized>(api: Arc<A>) -> Router {
    let path = format!("/internal/{}/{{method}}", A::COMPONENT);
    Router::new().route(&path, axum::routing::post(serve::<A>)).with_state(api)
}

async fn serve<A: Api + ?Sized>(State(api): State<Arc<A>>, Path(method): Path<String>, body: Bytes) -> Response {
    match A::dispatch(&api, &method, body).await {
        Ok(answer) => ([(http::header::CONTENT_TYPE, codec::CONTENT_TYPE)], answer).into_response(),
        Err(e) => {
            let status = e.kind.wire_status();
            match codec::encode(&e) {
                Ok(body) => (status, [(http::header::CONTENT_TYPE, codec::CONTENT_TYPE)], body).into_response(),
                Err(_) => status.into_response(),
            }
        }
    }
}

#[doc(hidden)]
pub mod __private {
    pub use async_trait::async_trait;
    pub use bytes::Bytes;
    pub use futures::future::BoxFuture;
}
