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
use crate::edge::{self, Admitted, Asking};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use hyper_util::rt::TokioIo;
use platform::ApiError;
use platform::metrics::{HttpMetrics, RouteSeries};
use platform::server::{DRAINING_HEADER, Draining, REQUEST_ID};
use pool::{AttemptError, ExecuteError, Pool, PoolSettings};
use proxy::front::{Answer, Incoming};
use proxy::upstream::{HopByHop, SendError, Upgraded, Upstreams};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::convert::Infallible;
use std::future::Future;
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

impl ProxyRouteConfig {
    pub fn validate(&self) -> Result<(), String> {
        let p = &self.prefix;
        if !p.starts_with('/') || p.len() < 2 || p.ends_with('/') || p.contains('{') || p.contains('*') {
            return Err(format!("proxy prefix {p:?} must look like /some/path (no trailing slash or wildcards)"));
        }
        if let Some(own) =
            crate::routes::own_prefixes().into_iter().find(|o| p.starts_with(*o) || o.starts_with(p.as_str()))
        {
            return Err(format!("proxy prefix {p:?} overlaps {own}, which the gateway serves itself"));
        }
        pool::parse_targets(&self.upstream).map_err(|e| format!("proxy {p}: {e}"))?;
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
    /// Its metric series, found at its first request.
    series: std::sync::OnceLock<RouteSeries>,
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
            series: std::sync::OnceLock::new(),
        })
    }
}

/// What forwarding needs of a request, from hyper's parts or from the
/// server's fast path (`platform::front`), whose heads are forwarded from
/// the bytes they arrived in.
pub(crate) trait Asked: Sync {
    fn method(&self) -> &Method;
    fn version(&self) -> Version;
    /// Path and query, as sent.
    fn target(&self) -> &[u8];
    fn query(&self) -> Option<&str>;
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Send;
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers().find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| v)
    }
    /// One of this request's header values, as a value of the answer.
    fn value_of(&self, value: &[u8]) -> Option<HeaderValue>;
    fn asking(&self) -> Asking<'_> {
        Asking {
            method: self.method(),
            query: self.query(),
            authorization: self.header("authorization"),
            forwarded_for: self
                .headers()
                .filter(|(n, _)| n.eq_ignore_ascii_case(b"x-forwarded-for"))
                .map(|(_, v)| v)
                .collect(),
        }
    }
}

impl Asked for http::request::Parts {
    fn method(&self) -> &Method {
        &self.method
    }
    fn version(&self) -> Version {
        self.version
    }
    fn target(&self) -> &[u8] {
        self.uri.path_and_query().map_or("/", |p| p.as_str()).as_bytes()
    }
    fn query(&self) -> Option<&str> {
        self.uri.query()
    }
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Send {
        self.headers.iter().map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
    }
    fn value_of(&self, value: &[u8]) -> Option<HeaderValue> {
        HeaderValue::from_bytes(value).ok()
    }
    fn asking(&self) -> Asking<'_> {
        Asking::of(self)
    }
}

impl Asked for Incoming {
    fn method(&self) -> &Method {
        &self.method
    }
    fn version(&self) -> Version {
        self.version
    }
    fn target(&self) -> &[u8] {
        Incoming::target(self)
    }
    fn query(&self) -> Option<&str> {
        Incoming::query(self)
    }
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Send {
        Incoming::headers(self)
    }
    fn value_of(&self, value: &[u8]) -> Option<HeaderValue> {
        self.shared_value(value)
    }
}

/// What the gateway adds to a forwarded request.
struct Added<'a> {
    request_id: &'a [u8],
    traceparent: &'a [u8],
    peer: Option<IpAddr>,
    /// An upgrade asked for (WebSocket): `Upgrade` goes on, not as hop-by-hop.
    upgrading: bool,
}

/// Writes the head of `req` as it goes upstream: hop-by-hop headers
/// dropped (RFC 9110 §7.6.1), then the request id, trace context and
/// `X-Forwarded-For` the gateway sets.
fn upstream_head(out: &mut Vec<u8>, addr: &str, req: &impl Asked, added: &Added<'_>, body_len: usize) {
    let is = |name: &[u8], n: &[u8]| name.eq_ignore_ascii_case(n);
    let hop = HopByHop::of(req.headers());
    // The chain of addresses the request came through, this peer last.
    let mut chain: SmallVec<[u8; 64]> = SmallVec::new();
    for (_, v) in req.headers().filter(|(n, _)| is(n, b"x-forwarded-for")) {
        chain.extend_from_slice(v);
        chain.extend_from_slice(b", ");
    }
    if let Some(ip) = added.peer {
        write_ip(&mut chain, ip);
    } else if chain.len() >= 2 {
        chain.truncate(chain.len() - 2);
    }
    let upgrade = added.upgrading && req.header("upgrade").is_some();
    let kept = req.headers().filter(|(n, _)| {
        !(hop.drops(n) && !(upgrade && is(n, b"upgrade")))
            && !is(n, b"x-request-id")
            && !is(n, b"traceparent")
            && !is(n, b"x-forwarded-for")
    });
    let set = [
        (&b"x-request-id"[..], added.request_id),
        (b"traceparent", added.traceparent),
        (b"x-forwarded-for", &chain[..]),
        (b"connection", b"upgrade"),
    ];
    let set = set.into_iter().filter(|(n, v)| !v.is_empty() && (upgrade || *n != b"connection"));
    proxy::upstream::request_head(out, addr, req.method(), req.target(), kept.chain(set), body_len);
}

/// An address as `X-Forwarded-For` has it, without the formatting machinery
/// (this runs for every proxied request).
fn write_ip(out: &mut SmallVec<[u8; 64]>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            // Digits into a buffer, then one append: by callgrind, an append
            // per octet cost ~440 instructions per request, this ~170.
            let (mut text, mut n) = ([0u8; 15], 0);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text[n] = b'.';
                    n += 1;
                }
                if octet >= 100 {
                    text[n] = b'0' + octet / 100;
                    n += 1;
                }
                if octet >= 10 {
                    text[n] = b'0' + octet / 10 % 10;
                    n += 1;
                }
                text[n] = b'0' + octet % 10;
                n += 1;
            }
            out.extend_from_slice(&text[..n]);
        }
        IpAddr::V6(v6) => {
            use std::io::Write as _;
            let mut text = Vec::with_capacity(40);
            let _ = write!(text, "{v6}");
            out.extend_from_slice(&text);
        }
    }
}

/// A pass-through request's body: read already (the server's fast path
/// reads it with the head), or still to read, with the client's side of an
/// upgrade when it asks for one.
pub(crate) enum RequestBody {
    Read(Bytes),
    Unread(Body, Option<hyper::upgrade::OnUpgrade>),
}

/// The time a request has: its route's budget, counted from `started`.
#[derive(Clone, Copy)]
struct Budget {
    started: Instant,
    budget: Duration,
}

/// Forwards one request to `route`'s upstream pool, every attempt within
/// the route's budget.
async fn forward(route: &ProxyRoute, req: &impl Asked, body: RequestBody, added: Added<'_>, time: Budget) -> Answer {
    let (body, client_side) = match body {
        RequestBody::Read(bytes) => (bytes, None),
        RequestBody::Unread(body, upgrade) => match axum::body::to_bytes(body, route.body_limit).await {
            Ok(bytes) => (bytes, upgrade),
            Err(_) => {
                let mut resp = ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large").into_response();
                crate::edge::body_left_unread(&mut resp, req.version());
                return Answer::Made(resp);
            }
        },
    };
    let added = Added { upgrading: client_side.is_some(), ..added };
    let method = req.method();
    let idempotent =
        matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) && body.is_empty() && !added.upgrading;
    let body_len = body.len();
    let outcome = route
        .pool
        .execute_within(Some(time.budget), None, idempotent, |backend| {
            let (body, added) = (body.clone(), &added);
            async move {
                let head = |out: &mut Vec<u8>| upstream_head(out, &backend.addr, req, added, body_len);
                match route.upstreams.send(&backend.addr, method, head, body).await {
                    Ok(a) if matches!(a.head.status.as_u16(), 502..=504) => {
                        Err(AttemptError::<Infallible>::Failed(format!("{} answered {}", backend.addr, a.head.status)))
                    }
                    Ok(a) => Ok(a),
                    Err(e @ SendError::NotSent(..)) => Err(AttemptError::NotSent(e.to_string())),
                    Err(e) => Err(AttemptError::Failed(e.to_string())),
                }
            }
        })
        .await;
    let answer = match outcome {
        Ok(a) => a,
        Err(ExecuteError::Answer(never)) => match never {},
        Err(ExecuteError::Unavailable(_)) if time.started.elapsed() >= time.budget => {
            return Answer::Made(edge::too_slow(&route.pattern, time.budget));
        }
        Err(ExecuteError::Unavailable(m)) => {
            tracing::warn!(prefix = %route.prefix, reason = %m, "pass-through upstream unavailable");
            return Answer::Made(
                ApiError::unavailable(format!("upstream for {} unavailable", route.prefix)).into_response(),
            );
        }
    };
    if answer.head.status == StatusCode::SWITCHING_PROTOCOLS {
        // The instance's `Upgrade` and `Connection` go to the client as they are.
        let headers = answer.head.header_map(false).unwrap_or_default();
        if let (Some(client_side), Some(upstream_side)) = (client_side, answer.body.into_upgraded()) {
            tokio::spawn(splice(client_side, upstream_side));
        }
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *resp.headers_mut() = headers;
        return Answer::Made(resp);
    }
    Answer::relayed(answer)
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
                let front = self.front.clone();
                Box::pin(async move {
                    let answer = pass(&front, &route, &parts, RequestBody::Unread(body, upgrade), peer).await;
                    Ok(answer.into_response())
                })
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
    /// Requests served on the fast path (the rest went through hyper).
    fast: platform::metrics::Counter,
}

impl PassThroughFront {
    pub fn new(gw: Gateway, draining: Draining, metrics: HttpMetrics, fast: platform::metrics::Counter) -> Self {
        PassThroughFront { gw, draining, metrics, fast }
    }

    fn route(&self, path: &str) -> Option<Arc<ProxyRoute>> {
        self.gw.proxies.iter().find(|p| under(path, &p.prefix)).cloned()
    }
}

impl proxy::front::Front for PassThroughFront {
    fn claims(&self, path: &str) -> bool {
        self.gw.proxies.iter().any(|p| under(path, &p.prefix))
    }

    fn body_limit(&self) -> usize {
        self.gw.settings.http.body_limit_bytes
    }

    fn call(self: &Arc<Self>, req: Incoming, peer: SocketAddr) -> impl Future<Output = Answer> + Send + 'static {
        let route = self.route(req.path()).expect("the front claims only paths under a route");
        self.fast.inc();
        let front = self.clone();
        async move {
            let body = RequestBody::Read(req.body.clone());
            pass(&front, &route, &req, body, Some(peer.ip())).await
        }
    }
}

async fn pass(
    front: &PassThroughFront,
    route: &ProxyRoute,
    req: &impl Asked,
    body: RequestBody,
    peer: Option<IpAddr>,
) -> Answer {
    let PassThroughFront { gw, draining, metrics, .. } = front;
    let started = Instant::now();
    let request_id = match req.header("x-request-id").and_then(|v| req.value_of(v)) {
        Some(id) => id,
        None => platform::server::new_request_id(),
    };
    let traceparent = match req.header("traceparent").and_then(|v| std::str::from_utf8(v).ok()) {
        Some(parent) => trace::child_of(parent),
        None => trace::new_trace(),
    };
    let mut answer = match gw.in_flight.clone().try_acquire_owned() {
        Err(_) => Answer::Made(edge::shed()),
        Ok(_permit) => match edge::admit(gw, &req.asking(), peer, &route.pattern).await {
            Err(refused) => Answer::Made(refused),
            Ok(Admitted { shown, .. }) => {
                let budget = gw.settings.http.route_timeout(&route.pattern);
                let added = Added {
                    request_id: request_id.as_bytes(),
                    traceparent: traceparent.as_bytes(),
                    peer,
                    upgrading: false,
                };
                // A body still to read is read within the budget too; once
                // read, the pool's attempts keep to it without a timer here.
                let unread = matches!(body, RequestBody::Unread(..));
                let time = Budget { started, budget };
                // Made in the branch that awaits it: a future made before
                // the branch keeps its own room in this one beside the
                // timer's copy (the fast path's future was 3.8 KB, now 2.4,
                // and it is moved between frames on every request).
                let forwarded = move || AssertUnwindSafe(forward(route, req, body, added, time)).catch_unwind();
                let outcome =
                    if unread { tokio::time::timeout(budget, forwarded()).await } else { Ok(forwarded().await) };
                let mut answer = match outcome {
                    Ok(Ok(answer)) => answer,
                    Ok(Err(_)) => {
                        Answer::Made(ApiError::internal(anyhow::anyhow!("pass-through panicked")).into_response())
                    }
                    Err(_) => Answer::Made(edge::too_slow(&route.pattern, budget)),
                };
                if let Some(v) = shown {
                    edge::rate_headers(&mut answer, &v);
                }
                answer
            }
        },
    };
    answer.insert_header(REQUEST_ID, request_id);
    if draining.is_draining() {
        answer.insert_header(HeaderName::from_static(DRAINING_HEADER), HeaderValue::from_static("1"));
    }
    let series = route.series.get_or_init(|| metrics.route(&route.pattern));
    series.record(req.method().as_str(), answer.status().as_u16(), started.elapsed());
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_forwarded_for_has_them() {
        for ip in ["0.0.0.0", "127.0.0.1", "10.20.100.9", "203.0.113.5", "255.255.255.255", "::1", "2001:db8::5"] {
            let mut out = SmallVec::new();
            write_ip(&mut out, ip.parse().unwrap());
            assert_eq!(std::str::from_utf8(&out).unwrap(), ip);
        }
    }
}
