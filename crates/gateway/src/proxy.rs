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
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .filter(|n| !(keep_upgrade && n == header::UPGRADE))
        .collect();
    let upgrade = headers.get(header::UPGRADE).cloned();
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
    for h in &named {
        headers.remove(h);
    }
    if keep_upgrade && let Some(u) = upgrade {
        headers.insert(header::UPGRADE, u);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Forwards one request to `route`'s upstream pool.
pub(crate) async fn forward(route: Arc<ProxyRoute>, mut req: Request, peer: Option<IpAddr>) -> Response {
    let upgrading = req.headers().contains_key(header::UPGRADE);
    let client_side = upgrading.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, route.body_limit).await else {
        let mut resp = ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large").into_response();
        crate::edge::body_left_unread(&mut resp, parts.version);
        return resp;
    };
    let mut headers = std::mem::take(&mut parts.headers);
    strip_hop_by_hop(&mut headers, upgrading);
    if let Some(ip) = peer {
        let chain = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prior) => format!("{prior}, {ip}"),
            None => ip.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&chain) {
            headers.insert("x-forwarded-for", v);
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
/// request to `inner` (the router with its layers).
#[derive(Clone)]
pub struct PassThrough<S> {
    inner: S,
    gw: Gateway,
    draining: Draining,
    metrics: HttpMetrics,
}

impl<S> PassThrough<S> {
    pub fn new(inner: S, gw: Gateway, draining: Draining, metrics: HttpMetrics) -> Self {
        PassThrough { inner, gw, draining, metrics }
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
        match self.gw.proxies.iter().find(|p| under(req.uri().path(), &p.prefix)).cloned() {
            Some(route) => Box::pin(pass(self.clone_parts(), route, req).map(Ok)),
            None => Box::pin(self.inner.clone().oneshot(req)),
        }
    }
}

impl<S> PassThrough<S> {
    fn clone_parts(&self) -> (Gateway, Draining, HttpMetrics) {
        (self.gw.clone(), self.draining.clone(), self.metrics.clone())
    }
}

async fn pass(
    (gw, draining, metrics): (Gateway, Draining, HttpMetrics),
    route: Arc<ProxyRoute>,
    mut req: Request,
) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let request_id = match req.headers().get(REQUEST_ID) {
        Some(id) => id.clone(),
        None => platform::server::new_request_id(),
    };
    req.headers_mut().insert(REQUEST_ID, request_id.clone());
    let traceparent = match req.headers().get(platform::trace::HEADER).and_then(|v| v.to_str().ok()) {
        Some(parent) => platform::trace::child_of(parent),
        None => platform::trace::new_trace(),
    };
    if let Ok(v) = HeaderValue::from_str(&traceparent) {
        req.headers_mut().insert(platform::trace::HEADER, v);
    }
    let mut resp = match gw.in_flight.clone().try_acquire_owned() {
        Err(_) => edge::shed(),
        Ok(_permit) => {
            let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
            let (parts, body) = req.into_parts();
            match edge::admit(&gw, &parts, peer, &route.pattern).await {
                Err(refused) => refused,
                Ok(Admitted { shown, .. }) => {
                    let req = Request::from_parts(parts, body);
                    let budget = gw.settings.route_timeout(&route.pattern);
                    let forwarded = AssertUnwindSafe(forward(route.clone(), req, peer)).catch_unwind();
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
            }
        }
    };
    resp.headers_mut().insert(REQUEST_ID, request_id);
    if draining.is_draining() {
        resp.headers_mut().insert(DRAINING_HEADER, HeaderValue::from_static("1"));
    }
    metrics.record(method.as_str(), &route.pattern, resp.status().as_u16(), started.elapsed());
    resp
}
