//! The HTTP server kit: standard layers, serving until shutdown, and the
//! shutdown signal.

use crate::error::ApiError;
use axum::Router;
use axum::ServiceExt;
use axum::http::{HeaderName, Request};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps a router in the layers every Aviary HTTP server has, outermost
/// last: the W3C trace context of the request, a request id (kept from the client when it sent one) echoed on
/// the response, a span per request carrying that id, and a panic guard that
/// answers 500 in the error envelope instead of dropping the connection.
pub fn standard_layers(router: Router) -> Router {
    router
        .layer(axum::middleware::from_fn(crate::trace::propagate))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            axum::response::IntoResponse::into_response(ApiError::internal(anyhow::anyhow!("handler panicked")))
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Serves until `stop` is cancelled, then stops accepting and waits up to
/// `grace` for in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    stop: CancellationToken,
    grace: Duration,
) -> std::io::Result<()> {
    let drained = stop.clone();
    // Rails, and so Mastodon, ignores a trailing slash (clients request
    // `/api/v1/instance/`); trimming must happen before routing, so this
    // wraps the router rather than being one of its layers.
    let service = NormalizePathLayer::trim_trailing_slash().layer(router);
    let server = axum::serve(
        listener,
        <_ as ServiceExt<axum::extract::Request>>::into_make_service_with_connect_info::<std::net::SocketAddr>(service),
    )
    .with_graceful_shutdown(async move { drained.cancelled().await });
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        r = &mut server => r,
        _ = async { stop.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("grace period of {grace:?} over; dropping remaining connections");
            Ok(())
        }
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
