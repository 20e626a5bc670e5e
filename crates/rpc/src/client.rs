//! The caller's side: [`RpcClient`] runs each call through the component's
//! [`Pool`] over a [`Transport`].

use crate::{CallError, CallKind, ErrorKind, Method, WireError, codec};
use bytes::Bytes;
use futures::future::BoxFuture;
use pool::{AttemptError, Backend, DRAINING_HEADER, ExecuteError, Pool, PoolSettings};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// One attempt of a call on one instance. The pool decides, from the
/// attempt's error, whether another instance is tried: [`AttemptError::NotSent`]
/// always, [`AttemptError::Failed`] only for reads.
pub trait Transport: Send + Sync + 'static {
    fn send<'a>(
        &'a self,
        pool: &'a Pool,
        backend: Arc<Backend>,
        component: &'a str,
        method: &'a str,
        args: Bytes,
    ) -> BoxFuture<'a, Result<Bytes, AttemptError<CallError>>>;
}

/// HTTP/1.1 over kept-alive connections (reqwest), W3C trace context in
/// `traceparent`.
pub struct HttpTransport {
    http: reqwest::Client,
    /// Sent in [`crate::SECRET_HEADER`] on every call (split mode).
    secret: Option<String>,
}

impl Default for HttpTransport {
    fn default() -> Self {
        Self::new(None)
    }
}

impl HttpTransport {
    /// A transport that proves itself with `secret` (see [`crate::Secrets`]).
    pub fn new(secret: Option<String>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            // Well inside the listeners' header timeout (10 s by default,
            // `http.header_timeout_ms`), which closes a kept connection
            // that idles longer: reusing one just as the server closes it
            // would fail the call.
            .pool_idle_timeout(Duration::from_secs(4))
            .build()
            .expect("an HTTP client with static settings builds");
        HttpTransport { http, secret }
    }
}

impl Transport for HttpTransport {
    fn send<'a>(
        &'a self,
        pool: &'a Pool,
        backend: Arc<Backend>,
        component: &'a str,
        method: &'a str,
        args: Bytes,
    ) -> BoxFuture<'a, Result<Bytes, AttemptError<CallError>>> {
        let url = format!("{}/internal/{component}/{method}", backend.base);
        let mut request = self.http.post(&url).header(http::header::CONTENT_TYPE, codec::CONTENT_TYPE).body(args);
        if let Some(secret) = &self.secret {
            request = request.header(crate::SECRET_HEADER, secret);
        }
        if let Some(tp) = trace::current() {
            request = request.header(trace::HEADER, trace::child_of(&tp));
        }
        Box::pin(async move {
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
                return Ok(body);
            }
            Err(match codec::decode::<WireError>(&body) {
                Ok(e) if e.kind == ErrorKind::Unavailable => AttemptError::Failed(format!("{url}: {}", e.message)),
                Ok(e) => AttemptError::Answer(CallError::Remote(e)),
                Err(_) => AttemptError::Failed(format!("{url} answered {status}")),
            })
        })
    }
}

/// A component's client: calls its instances through a [`Pool`], which
/// balances, ejects failing instances and retries within its budget.
#[derive(Clone)]
pub struct RpcClient {
    component: &'static str,
    pool: Pool,
    transport: Arc<dyn Transport>,
}

impl RpcClient {
    /// `addresses` are `host:port` (or `http://host:port`) of the
    /// component's instances, optionally followed by ` weight=N`.
    pub fn new(component: &'static str, addresses: &[String], settings: PoolSettings) -> Result<Self, String> {
        Self::with_secret(component, addresses, settings, None)
    }

    /// As [`RpcClient::new`], proving every call with `secret`.
    pub fn with_secret(
        component: &'static str,
        addresses: &[String],
        settings: PoolSettings,
        secret: Option<String>,
    ) -> Result<Self, String> {
        Ok(Self::with_transport(
            component,
            Pool::new(component, addresses, settings)?,
            Arc::new(HttpTransport::new(secret)),
        ))
    }

    pub fn with_transport(component: &'static str, pool: Pool, transport: Arc<dyn Transport>) -> Self {
        RpcClient { component, pool, transport }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Calls `method` with `args` (a tuple); `key` picks the instance under
    /// the consistent-hash policy.
    pub async fn call<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &Method,
        key: Option<&str>,
        args: &A,
    ) -> Result<R, CallError> {
        let args = codec::encode(args).map_err(CallError::Remote)?;
        let idempotent = method.kind == CallKind::Read;
        let outcome = self
            .pool
            .execute(key, idempotent, |backend| {
                self.transport.send(&self.pool, backend, self.component, method.name, args.clone())
            })
            .await;
        match outcome {
            Ok(body) => codec::decode(&body).map_err(|e| {
                CallError::Remote(WireError::new(
                    ErrorKind::Unexpected,
                    format!("{}.{} answered what its caller cannot read: {}", self.component, method.name, e.message),
                ))
            }),
            Err(ExecuteError::Answer(e)) => Err(e),
            Err(ExecuteError::Unavailable(m)) => Err(CallError::Unavailable(m)),
        }
    }
}
