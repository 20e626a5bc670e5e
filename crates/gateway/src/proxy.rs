//! Pass-through routes: requests under a configured prefix go, as they
//! are, to an upstream pool (balanced, health-checked and retried like
//! every other pool), and connection upgrades — WebSocket — are spliced
//! through, so a streaming server can sit behind the gateway.
//!
//! Bodies are buffered up to the body limit (so a request that never
//! reached an instance can be sent to another); responses stream.
//!
//! These requests do not go through the router and its layers:
//! [`PassThrough`] sits in front of them and does, in one service, what an
//! operator needs of a proxied request — request id, trace context,
//! concurrency limit with shedding, token check and rate limits, the route's
//! time budget, panic guard, draining mark and metrics. Measured, the
//! layered stack cost ~35 µs per request more than this (docs/BENCHMARKS.md).

use crate::Gateway;
use crate::edge::{self, Admitted};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use hyper_util::rt::TokioIo;
use platform::ApiError;
use platform::metrics::HttpMetrics;
use platform::pool::{AttemptError, ExecuteError, Pool, PoolSettings};
use platform::server::{DRAINING_HEADER, Draining, REQUEST_ID};
use platform::upstream::{SendError, Upgraded, Upstreams};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tower::{Service, ServiceExt};

/// One pass-through route in the configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProxyRouteConfig {
    /// Path prefix, e.g. `/api/v1/streaming`; the path is forwarded whole.
    pub prefix: String,
    /// `host:port` of the upstream instances (as for component pools).
    pub upstream: Vec<String>,
    /// Balancing and health for this upstream (defaults as for components).
    #[serde(default)]
    pub pool: PoolSettings,
}

/// Prefixes the gateway serves itself; a pass-through route may not take them.
const OWN_PREFIXES: &[&str] = &[
    "/api/v1/apps",
    "/api/v1/accounts",
    "/api/v1/statuses",
    "/api/v1/timelines",
    "/api/v1/instance",
    "/api/v2/instance",
    "/oauth",
    "/healthz",
    "/readyz",
    "/metrics",
    "/internal",
];

impl ProxyRouteConfig {
    pub fn validate(&self) -> Result<(), String> {
        let p = &self.prefix;
        if !p.starts_with('/') || p.len() < 2 || p.ends_with('/') || p.contains('{') || p.contains('*') {
            return Err(format!("proxy prefix {p:?} must look like /some/path (no trailing slash or wildcards)"));
        }
        if let Some(own) = OWN_PREFIXES.iter().find(|o| p.starts_with(*o) || o.starts_with(p.as_str())) {
            return Err(format!("proxy prefix {p:?} overlaps {own}, which the gateway serves itself"));
        }
        platform::pool::parse_targets(&self.upstream).map_err(|e| format!("proxy {p}: {e}"))?;
        if self.upstream.is_empty() {
            return Err(format!("proxy {p}: no upstream"));
        }
        self.pool.validate().map_err(|e| format!("proxy {p}: {e}"))
    }
}

pub struct ProxyRoute {
    pub prefix: String,
    /// How the route is named in metrics and `http.route_timeouts_ms`.
    pub pattern: String,
    pool: Pool,
    upstreams: Upstreams,
    body_limit: usize,
}

impl ProxyRoute {
    pub fn new(config: &ProxyRouteConfig, body_limit: usize) -> Result<ProxyRoute, String> {
        config.validate()?;
        Ok(ProxyRoute {
            prefix: config.prefix.clone(),
            pattern: format!("{}/{{*rest}}", config.prefix),
            pool: Pool::new(&format!("proxy {}", config.prefix), &config.upstream, config.pool.clone())?,
            upstreams: Upstreams::new(Duration::from_secs(1)),
            body_limit,
        })
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Hop-by-hop headers (RFC 9110 §7.6.1): about one connection, never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // One pass over the names finds what to drop: most messages carry
    // none, or only `Connection`, and nine removals that find nothing cost
    // more than the pass.
    let mut drop: Vec<HeaderName> = Vec::new();
    for name in headers.keys() {
        if HOP_BY_HOP.contains(&name.as_str()) && !(keep_upgrade && name == header::UPGRADE) {
            drop.push(name.clone());
        }
    }
    if drop.is_empty() && !keep_upgrade {
        return;
    }
    // Headers the `Connection` header names are about this hop too.
    for value in headers.get_all(header::CONNECTION) {
        let Ok(value) = value.to_str() else { continue };
        for token in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if let Ok(name) = HeaderName::from_bytes(token.as_bytes())
                && !(keep_upgrade && name == header::UPGRADE)
            {
                drop.push(name);
            }
        }
    }
    for name in &drop {
        headers.remove(name);
    }
    if keep_upgrade && headers.contains_key(header::UPGRADE) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// A pass-through request's body: read already (the server's fast path
/// reads it with the head), or still to read, with the client's side of an
/// upgrade when it asks for one.
pub(crate) enum RequestBody {
    Read(Bytes),
    Unread(Body, Option<hyper::upgrade::OnUpgrade>),
}

/// Forwards one request to `route`'s upstream pool.
pub(crate) async fn forward(
    route: Arc<ProxyRoute>,
    mut parts: http::request::Parts,
    body: RequestBody,
    peer: Option<IpAddr>,
) -> Response {
    let (body, client_side) = match body {
        RequestBody::Read(bytes) => (bytes, None),
        RequestBody::Unread(body, upgrade) => match axum::body::to_bytes(body, route.body_limit).await {
            Ok(bytes) => (bytes, upgrade),
            Err(_) => {
                let mut resp = ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large").into_response();
                crate::edge::body_left_unread(&mut resp, parts.version);
                return resp;
            }
        },
    };
    let upgrading = client_side.is_some();
    let mut headers = std::mem::take(&mut parts.headers);
    strip_hop_by_hop(&mut headers, upgrading);
    if let Some(ip) = peer {
        use std::io::Write as _;
        let mut chain = Vec::with_capacity(64);
        if let Some(prior) = headers.get(X_FORWARDED_FOR) {
            chain.extend_from_slice(prior.as_bytes());
            chain.extend_from_slice(b", ");
        }
        let _ = write!(chain, "{ip}");
        if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(chain)) {
            headers.insert(X_FORWARDED_FOR, v);
        }
    }
    let idempotent =
        matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) && body.is_empty() && !upgrading;

    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let outcome = route
        .pool
        .execute(None, idempotent, |backend| {
            let (upstreams, method, headers, body) = (&route.upstreams, &parts.method, &headers, body.clone());
            async move {
                match upstreams.send(&backend.addr, method, path, headers, body).await {
                    Ok(resp) if matches!(resp.status().as_u16(), 502..=504) => {
                        Err(AttemptError::<Infallible>::Failed(format!("{} answered {}", backend.addr, resp.status())))
                    }
                    Ok(resp) => Ok(resp),
                    Err(e @ SendError::NotSent(..)) => Err(AttemptError::NotSent(e.to_string())),
                    Err(e) => Err(AttemptError::Failed(e.to_string())),
                }
            }
        })
        .await;
    let resp = match outcome {
        Ok(resp) => resp,
        Err(ExecuteError::Answer(never)) => match never {},
        Err(ExecuteError::Unavailable(m)) => {
            tracing::warn!(prefix = %route.prefix, reason = %m, "pass-through upstream unavailable");
            return ApiError::unavailable(format!("upstream for {} unavailable", route.prefix)).into_response();
        }
    };
    let (mut head, body) = resp.into_parts();
    if head.status == StatusCode::SWITCHING_PROTOCOLS {
        if let (Some(client_side), Some(upstream_side)) = (client_side, body.into_upgraded()) {
            tokio::spawn(splice(client_side, upstream_side));
        }
        return Response::from_parts(head, Body::empty());
    }
    strip_hop_by_hop(&mut head.headers, false);
    Response::from_parts(head, Body::new(body))
}

/// Joins the client's upgraded connection to the instance's, first handing
/// on what the instance sent right after its `101`.
async fn splice(client_side: hyper::upgrade::OnUpgrade, upstream: Upgraded) {
    let client = match client_side.await {
        Ok(c) => c,
        Err(e) => return tracing::debug!(error = %e, "client upgrade not completed"),
    };
    let (mut client, mut upstream_stream) = (TokioIo::new(client), upstream.stream);
    if !upstream.read_ahead.is_empty() && client.write_all(&upstream.read_ahead).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream_stream).await;
}

/// Serves the pass-through prefixes of `gw` itself and hands every other
/// request to `inner` (the router with its layers). Plain HTTP/1.1 requests
/// reach [`PassThroughFront`] instead, on the server's fast path; this
/// serves the rest (HTTP/2, TLS, upgrades, chunked uploads).
#[derive(Clone)]
pub struct PassThrough<S> {
    inner: S,
    front: Arc<PassThroughFront>,
}

impl<S> PassThrough<S> {
    pub fn new(inner: S, front: Arc<PassThroughFront>) -> Self {
        PassThrough { inner, front }
    }
}

/// Whether `path` is `prefix` or below it (at a segment boundary).
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl<S> Service<Request> for PassThrough<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match self.front.route(req.uri().path()) {
            Some(route) => {
                let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
                let mut req = req;
                let upgrade = req.headers().contains_key(header::UPGRADE).then(|| hyper::upgrade::on(&mut req));
                let (parts, body) = req.into_parts();
                Box::pin(pass(self.front.clone(), route, parts, RequestBody::Unread(body, upgrade), peer).map(Ok))
            }
            None => Box::pin(self.inner.clone().oneshot(req)),
        }
    }
}

/// The pass-through routes as the server's fast path serves them
/// (`platform::front`), and what [`PassThrough`] shares with it.
pub struct PassThroughFront {
    gw: Gateway,
    draining: Draining,
    metrics: HttpMetrics,
    body_limit: usize,
    /// Requests served on the fast path (the rest went through hyper).
    fast: platform::metrics::Counter,
}

impl PassThroughFront {
    pub fn new(
        gw: Gateway,
        draining: Draining,
        metrics: HttpMetrics,
        body_limit: usize,
        fast: platform::metrics::Counter,
    ) -> Self {
        PassThroughFront { gw, draining, metrics, body_limit, fast }
    }

    fn route(&self, path: &str) -> Option<Arc<ProxyRoute>> {
        self.gw.proxies.iter().find(|p| under(path, &p.prefix)).cloned()
    }
}

impl platform::front::Front for PassThroughFront {
    fn claims(&self, path: &str) -> bool {
        self.gw.proxies.iter().any(|p| under(path, &p.prefix))
    }

    fn body_limit(&self) -> usize {
        self.body_limit
    }

    fn call(self: Arc<Self>, req: http::Request<Bytes>, peer: SocketAddr) -> BoxFuture<'static, Response> {
        let (parts, body) = req.into_parts();
        let route = self.route(parts.uri.path()).expect("the front claims only paths under a route");
        self.fast.inc();
        Box::pin(pass(self, route, parts, RequestBody::Read(body), Some(peer.ip())))
    }
}

async fn pass(
    front: Arc<PassThroughFront>,
    route: Arc<ProxyRoute>,
    mut parts: http::request::Parts,
    body: RequestBody,
    peer: Option<IpAddr>,
) -> Response {
    let PassThroughFront { gw, draining, metrics, .. } = &*front;
    let started = Instant::now();
    let method = parts.method.clone();
    let request_id = match parts.headers.get(REQUEST_ID) {
        Some(id) => id.clone(),
        None => platform::server::new_request_id(),
    };
    parts.headers.insert(REQUEST_ID, request_id.clone());
    let traceparent = match parts.headers.get(platform::trace::HEADER).and_then(|v| v.to_str().ok()) {
        Some(parent) => platform::trace::child_of(parent),
        None => platform::trace::new_trace(),
    };
    if let Ok(v) = HeaderValue::from_str(&traceparent) {
        parts.headers.insert(platform::trace::HEADER, v);
    }
    let mut resp = match gw.in_flight.clone().try_acquire_owned() {
        Err(_) => edge::shed(),
        Ok(_permit) => match edge::admit(gw, &parts, peer, &route.pattern).await {
            Err(refused) => refused,
            Ok(Admitted { shown, .. }) => {
                let budget = gw.settings.route_timeout(&route.pattern);
                let forwarded = AssertUnwindSafe(forward(route.clone(), parts, body, peer)).catch_unwind();
                let mut resp = match tokio::time::timeout(budget, forwarded).await {
                    Ok(Ok(resp)) => resp,
                    Ok(Err(_)) => ApiError::internal(anyhow::anyhow!("pass-through panicked")).into_response(),
                    Err(_) => edge::too_slow(&route.pattern, budget),
                };
                if let Some(v) = shown {
                    edge::rate_headers(resp.headers_mut(), &v);
                }
                resp
            }
        },
    };
    resp.headers_mut().insert(REQUEST_ID, request_id);
    if draining.is_draining() {
        resp.headers_mut().insert(DRAINING_HEADER, HeaderValue::from_static("1"));
    }
    metrics.record(method.as_str(), &route.pattern, resp.status().as_u16(), started.elapsed());
    resp
}
