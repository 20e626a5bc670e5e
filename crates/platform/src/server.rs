//! The HTTP server kit: standard layers, serving until shutdown, and the
//! shutdown signal.

use crate::error::ApiError;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Request};
use axum::middleware::Next;
use axum::response::Response;
pub use pool::DRAINING_HEADER;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps a router in the layers every Aviary HTTP server has, outermost
/// last: the W3C trace context of the request, a request id (kept from the client when it sent one) echoed on
/// the response, a span per request carrying that id, and a panic guard that
/// answers 500 in the error envelope instead of dropping the connection.
pub fn standard_layers(router: Router) -> Router {
    router
        .layer(axum::middleware::from_fn(propagate_trace))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            axum::response::IntoResponse::into_response(ApiError::internal(anyhow::anyhow!("handler panicked")))
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
        // A client's id that is not one is replaced, not echoed.
        .layer(axum::middleware::from_fn(drop_malformed_request_id))
}

/// Whether a client's `X-Request-Id` is kept: 1–128 characters of letters,
/// digits and `-_.:@` — enough for UUIDs and the ids of common fronts;
/// anything else (control bytes, markup, kilobytes) would be logged and
/// echoed as the client wrote it.
pub fn is_request_id(value: &[u8]) -> bool {
    (1..=128).contains(&value.len()) && value.iter().all(|&b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b))
}

async fn drop_malformed_request_id(mut req: Request<Body>, next: Next) -> Response {
    let malformed = req.headers().get_all(REQUEST_ID).iter().count() > 1
        || req.headers().get(REQUEST_ID).is_some_and(|v| !is_request_id(v.as_bytes()));
    if malformed {
        req.headers_mut().remove(REQUEST_ID);
    }
    next.run(req).await
}

/// Rails, and so Mastodon, ignores a trailing slash (clients request
/// `/api/v1/instance/`); trimming must happen before routing, so this
/// wraps the router rather than being one of its layers.
pub fn trim_trailing_slash(router: Router) -> tower_http::normalize_path::NormalizePath<Router> {
    NormalizePathLayer::trim_trailing_slash().layer(router)
}

/// Request ids: UUID v4 from the thread-local generator (tower-http's
/// `MakeRequestUuid` makes a `getrandom` system call per request).
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        Some(RequestId::new(new_request_id()))
    }
}

/// A new request id (UUID v4).
pub fn new_request_id() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(trace::random_id()).into_uuid();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    HeaderValue::from_bytes(id.hyphenated().encode_lower(&mut text).as_bytes()).expect("a UUID is a valid header value")
}

/// Whether this process is shutting down. While it is, `/healthz` answers
/// 503 and every response carries [`DRAINING_HEADER`], so callers' pools
/// stop sending new requests here before the listener closes.
#[derive(Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Middleware: marks responses of a draining process.
pub async fn mark_draining(State(draining): State<Draining>, req: Request<Body>, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if draining.is_draining() {
        resp.headers_mut().insert(DRAINING_HEADER, HeaderValue::from_static("1"));
    }
    resp
}

/// How a server stops.
#[derive(Clone)]
pub struct Shutdown {
    pub draining: Draining,
    /// After the stop signal, keep serving (marked as draining) this long so
    /// callers' health checks and in-flight answers take the instance out of
    /// their pools before it stops accepting.
    pub drain: Duration,
    /// Then wait up to this long for in-flight requests.
    pub grace: Duration,
    /// Terminate TLS with this configuration (HTTP/2 and HTTP/1.1 by ALPN);
    /// plain HTTP (HTTP/1.1, and HTTP/2 with prior knowledge) without.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Plain-HTTP/1.1 requests this claims are served on the fast path
    /// (`proxy::front`) before the service.
    pub front: Option<Arc<dyn crate::listen::FastPath>>,
    /// Caps and deadlines on the listener's connections (the fast path's
    /// too).
    pub connections: Arc<crate::conn::Connections>,
}

/// Serves until `stop` is cancelled, then drains (see [`Shutdown`]), stops
/// accepting and waits for in-flight requests.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    stop: CancellationToken,
    shutdown: Shutdown,
) -> std::io::Result<()>
where
    S: tower::Service<axum::extract::Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let Shutdown { draining, drain, grace, tls, front, connections } = shutdown;
    let drained = CancellationToken::new();
    {
        let (stop, drained) = (stop.clone(), drained.clone());
        tokio::spawn(async move {
            stop.cancelled().await;
            if !drain.is_zero() {
                draining.start();
                tracing::info!(?drain, "draining: still serving, marked as shutting down");
                tokio::time::sleep(drain).await;
            }
            drained.cancel();
        });
    }
    serve_each(listener, service, tls, front, connections, drained, grace).await
}

/// The accept loop: plain connections, TLS (a handshake per connection in
/// its own task, so a slow client cannot stall accepting) or the fast path
/// for plain HTTP/1.1, whose per-core workers ([`crate::listen::FastPath`])
/// accept instead. Every connection is first admitted by `connections`
/// (closed at once past a cap), then served by hyper's auto builder
/// (HTTP/2 or HTTP/1.1, upgrades allowed for WebSocket pass-through) under
/// the header deadline and the body's minimum rate, after the fast path
/// when it hands one over, and tracked so shutdown can wait for it
/// (fast-path connections too).
async fn serve_each<S>(
    listener: TcpListener,
    service: S,
    tls: Option<Arc<rustls::ServerConfig>>,
    front: Option<Arc<dyn crate::listen::FastPath>>,
    connections: Arc<crate::conn::Connections>,
    drained: CancellationToken,
    grace: Duration,
) -> std::io::Result<()>
where
    S: tower::Service<Request<Body>, Response = Response, Error = std::convert::Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let rules = connections.settings.clone();
    let header_timeout = rules.header_timeout();
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    // hyper's header timer runs from when it starts waiting for a head,
    // which on a kept-alive connection is the end of the previous answer.
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(64 * 1024);
    // HTTP/2 has no head deadline: pings find dead peers, and streams per
    // connection are bounded.
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(10))
        .max_concurrent_streams(128);
    let body_rate = BodyRate { min_bytes_per_sec: rules.min_body_bytes_per_sec, window: header_timeout };
    // Fast-path connections, which hyper's graceful shutdown does not see.
    let tracker = tokio_util::task::TaskTracker::new();
    match (tls.map(tokio_rustls::TlsAcceptor::from), front) {
        (None, None) => {
            while let Some((tcp, peer)) = crate::listen::accept(&listener, &drained).await {
                let Some(admitted) = connections.admit(peer.ip()) else { continue };
                let io = crate::conn::FirstByteWithin::new(tcp, header_timeout);
                let conn = hyper_connection(builder.clone(), io, service.clone(), peer, body_rate, graceful.watcher());
                tokio::spawn(async move {
                    conn.await;
                    drop(admitted);
                });
            }
            drop(listener);
        }
        (None, Some(front)) => {
            // Plain HTTP with a fast path: its workers accept (and admit);
            // what they hand over is hyper's, here, with its place.
            let mut handed = front
                .spawn(listener, connections.clone(), drained.clone(), tracker.clone())
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot start the fast-path workers: {e}")))?;
            loop {
                let (read_ahead, tcp, peer, admitted) = tokio::select! {
                    h = handed.recv() => match h {
                        Some(h) => h,
                        None => break,
                    },
                    // A connection handed over after this is closed, as
                    // shutdown closes every connection between requests.
                    _ = drained.cancelled() => break,
                };
                let Ok(tcp) = tokio::net::TcpStream::from_std(tcp) else { continue };
                let rest = crate::listen::Rewind::new(read_ahead, tcp);
                let conn =
                    hyper_connection(builder.clone(), rest, service.clone(), peer, body_rate, graceful.watcher());
                tokio::spawn(async move {
                    conn.await;
                    drop(admitted);
                });
            }
        }
        (Some(acceptor), _) => {
            while let Some((tcp, peer)) = crate::listen::accept(&listener, &drained).await {
                let Some(admitted) = connections.admit(peer.ip()) else { continue };
                let (acceptor, builder, service, watcher) =
                    (acceptor.clone(), builder.clone(), service.clone(), graceful.watcher());
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    let io = crate::conn::FirstByteWithin::new(stream, header_timeout);
                    hyper_connection(builder, io, service, peer, body_rate, watcher).await;
                    drop(admitted);
                });
            }
            drop(listener);
        }
    }
    tracker.close();
    tokio::select! {
        _ = async { tokio::join!(graceful.shutdown(), tracker.wait()) } => {}
        _ = tokio::time::sleep(grace) => tracing::warn!("grace period of {grace:?} over; dropping remaining connections"),
    }
    Ok(())
}

/// The slowest a request body may arrive.
#[derive(Clone, Copy)]
struct BodyRate {
    min_bytes_per_sec: u64,
    window: Duration,
}

/// Serves one connection with hyper (HTTP/2 or HTTP/1.1, upgrades allowed),
/// its requests carrying the peer's address and their bodies held to
/// `body_rate`, watched for graceful shutdown.
async fn hyper_connection<S, I>(
    builder: hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    io: I,
    service: S,
    peer: std::net::SocketAddr,
    body_rate: BodyRate,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: tower::Service<Request<Body>, Response = Response, Error = std::convert::Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tower::ServiceExt as _;
    let service = service.map_request(move |req: Request<hyper::body::Incoming>| {
        let mut req =
            req.map(|body| Body::new(crate::conn::MinRate::new(body, body_rate.min_bytes_per_sec, body_rate.window)));
        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        req
    });
    let service = hyper_util::service::TowerToHyperService::new(service);
    let conn = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received; shutting down"),
        _ = term => tracing::info!("SIGTERM received; shutting down"),
    }
}

/// Middleware: every request runs inside the trace context its caller sent,
/// or a new one.
pub async fn propagate_trace(req: Request<Body>, next: Next) -> Response {
    let incoming = req.headers().get(trace::HEADER).and_then(|v| v.to_str().ok()).map(String::from);
    trace::scope(incoming.as_deref(), next.run(req)).await
}
