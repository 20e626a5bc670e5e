//! The pass-through service: requests under a route's prefix are
//! forwarded (see [`crate::forward`]) with what an operator needs of a
//! proxied request — request id, trace context, the application's
//! admission (its [`Hooks`]), the route's time budget, a panic guard, the
//! draining mark and metrics — in one service, on hyper's path
//! ([`PassThrough`]) and on the fast path ([`PassThroughFront`]) alike.

use crate::forward::{Added, Asked, Budget, RequestBody, forward};
use crate::front::{Answer, Incoming};
use crate::route::{ProxyRoute, below, under};
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use futures::future::BoxFuture;
use platform::ApiError;
use platform::metrics::HttpMetrics;
use platform::server::{DRAINING_HEADER, Draining, REQUEST_ID};
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Service, ServiceExt};

/// What the application decides around each forwarded request, in the
/// manner of pingora's `ProxyHttp` phases: whether it goes on, how long it
/// may take, and what its answer carries.
pub trait Hooks: Send + Sync + 'static {
    /// Held while the request is forwarded (a concurrency permit, what the
    /// answer must show), then handed to [`Hooks::answer_filter`].
    type Admission: Send;

    /// Lets the request through, or answers it (overloaded, not
    /// authorised, rate-limited).
    fn admit<'a, R: Asked>(
        &'a self,
        req: &'a R,
        peer: Option<IpAddr>,
        route: &'a ProxyRoute,
    ) -> impl Future<Output = Result<Self::Admission, Response>> + Send + 'a;

    /// The request's time budget.
    fn budget(&self, route: &ProxyRoute) -> Duration;

    /// Whether `peer` is a proxy in front of this one, whose forwarding
    /// headers (`X-Forwarded-For` and the like) are passed on; anyone
    /// else's are dropped.
    fn trusts(&self, peer: IpAddr) -> bool;

    /// Adds what the application shows on an admitted request's answer
    /// (rate-limit headers).
    fn answer_filter(&self, answer: &mut Answer, admission: Self::Admission);
}

/// Serves the pass-through prefixes itself and hands every other
/// request to `inner` (the router with its layers). Plain HTTP/1.1 requests
/// reach [`PassThroughFront`] instead, on the server's fast path; this
/// serves the rest (HTTP/2, TLS, upgrades, chunked uploads).
#[derive(Clone)]
pub struct PassThrough<S, H: Hooks> {
    inner: S,
    front: Arc<PassThroughFront<H>>,
}

impl<S, H: Hooks> PassThrough<S, H> {
    pub fn new(inner: S, front: Arc<PassThroughFront<H>>) -> Self {
        PassThrough { inner, front }
    }
}

impl<S, H: Hooks> Service<Request> for PassThrough<S, H>
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
                // Only WebSocket is spliced: another protocol (`h2c`) would
                // open a tunnel to the upstream past the route's rules. Its
                // `Upgrade` is then hop-by-hop, dropped like the others.
                let upgrade = websocket(req.headers()).then(|| hyper::upgrade::on(&mut req));
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

/// Whether a request asks to switch to WebSocket, and to nothing else.
fn websocket(headers: &axum::http::HeaderMap) -> bool {
    let mut tokens = headers.get_all(header::UPGRADE).iter().flat_map(|v| v.as_bytes().split(|&b| b == b','));
    let first = tokens.next().map(|t| t.trim_ascii());
    first.is_some_and(|t| t.eq_ignore_ascii_case(b"websocket")) && tokens.all(|t| t.trim_ascii().is_empty())
}

/// The pass-through routes as the fast path serves them
/// ([`crate::front`]), and what [`PassThrough`] shares with it.
pub struct PassThroughFront<H> {
    hooks: H,
    routes: Vec<Arc<ProxyRoute>>,
    body_limit: usize,
    draining: Draining,
    metrics: HttpMetrics,
    /// Requests served on the fast path (the rest went through hyper).
    fast: platform::metrics::Counter,
}

impl<H: Hooks> PassThroughFront<H> {
    /// `routes` forwarded with `hooks`' policy; bodies up to `body_limit`
    /// bytes are read on the fast path (larger ones go to hyper, which
    /// refuses them).
    pub fn new(
        hooks: H,
        routes: Vec<Arc<ProxyRoute>>,
        body_limit: usize,
        draining: Draining,
        metrics: HttpMetrics,
        fast: platform::metrics::Counter,
    ) -> Self {
        PassThroughFront { hooks, routes, body_limit, draining, metrics, fast }
    }

    fn route(&self, path: &str) -> Option<Arc<ProxyRoute>> {
        self.routes.iter().find(|p| under(path, &p.prefix)).cloned()
    }
}

impl<H: Hooks> crate::front::Front for PassThroughFront<H> {
    fn claims(&self, path: &str) -> bool {
        self.routes.iter().any(|p| under(path, &p.prefix))
    }

    fn body_limit(&self) -> usize {
        self.body_limit
    }

    fn call(self: &Arc<Self>, req: Incoming, peer: SocketAddr) -> impl Future<Output = Answer> + Send + 'static {
        // `claims` vetted this path (it stays under its prefix) a moment ago;
        // finding its route needs the prefix only, not a second scan.
        let path = req.path();
        let route = self.routes.iter().find(|p| below(path, &p.prefix).is_some()).cloned();
        let route = route.expect("the front claims only paths under a route");
        self.fast.inc();
        let front = self.clone();
        async move {
            let body = RequestBody::Read(req.body.clone());
            pass(&front, &route, &req, body, Some(peer.ip())).await
        }
    }
}

async fn pass<H: Hooks>(
    front: &PassThroughFront<H>,
    route: &ProxyRoute,
    req: &impl Asked,
    body: RequestBody,
    peer: Option<IpAddr>,
) -> Answer {
    let PassThroughFront { hooks, draining, metrics, .. } = front;
    let started = Instant::now();
    let request_id =
        match req.header("x-request-id").filter(|v| platform::server::is_request_id(v)).and_then(|v| req.value_of(v)) {
            Some(id) => id,
            None => platform::server::new_request_id(),
        };
    let traceparent = match req.header("traceparent").and_then(|v| std::str::from_utf8(v).ok()) {
        Some(parent) => trace::child_of(parent),
        None => trace::new_trace(),
    };
    let mut answer = match hooks.admit(req, peer, route).await {
        Err(refused) => Answer::Made(refused),
        Ok(admission) => {
            let budget = hooks.budget(route);
            let added = Added {
                request_id: request_id.as_bytes(),
                traceparent: traceparent.as_bytes(),
                peer,
                peer_trusted: peer.is_some_and(|p| hooks.trusts(p)),
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
            let outcome = if unread { tokio::time::timeout(budget, forwarded()).await } else { Ok(forwarded().await) };
            let mut answer = match outcome {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => {
                    Answer::Made(ApiError::internal(anyhow::anyhow!("pass-through panicked")).into_response())
                }
                Err(_) => Answer::Made(crate::forward::too_slow(&route.pattern, budget)),
            };
            hooks.answer_filter(&mut answer, admission);
            answer
        }
    };
    answer.insert_header(REQUEST_ID, request_id);
    if draining.is_draining() {
        answer.insert_header(HeaderName::from_static(DRAINING_HEADER), HeaderValue::from_static("1"));
    }
    let series = route.series.get_or_init(|| metrics.route(&route.pattern));
    series.record(req.method().as_str(), answer.status().as_u16(), started.elapsed());
    answer
}
