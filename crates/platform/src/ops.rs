//! The operational endpoints every process serves: `/healthz` (the process
//! is alive), `/readyz` (its dependencies answer) and `/metrics`.

use crate::server::Draining;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use futures::future::BoxFuture;
use prometheus_client::registry::Registry;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// A named readiness check, e.g. "users database".
pub type ReadyCheck = (String, Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>);

#[derive(Clone)]
struct Ops {
    checks: Arc<Vec<ReadyCheck>>,
    registry: Arc<Registry>,
    draining: Draining,
}

/// Who may read `/readyz` and `/metrics` on a public port: the listed
/// addresses (the monitoring hosts), as the client address is settled
/// behind `trusted` proxies. Everyone else gets 404: readiness names the
/// engines behind the server and metrics its traffic.
#[derive(Clone, Debug)]
pub struct AdminOnly {
    pub admin: Vec<IpAddr>,
    pub trusted: Vec<IpAddr>,
}

/// The operational routes; with `admin_only`, `/readyz` and `/metrics`
/// answer only the admin addresses (`/healthz` stays open for balancers).
pub fn router(
    checks: Vec<ReadyCheck>,
    registry: Arc<Registry>,
    draining: Draining,
    admin_only: Option<AdminOnly>,
) -> Router {
    let private = Router::new().route("/readyz", get(readyz)).route("/metrics", get(metrics));
    let private = match admin_only {
        Some(rule) => private.route_layer(axum::middleware::from_fn_with_state(Arc::new(rule), only_admin)),
        None => private,
    };
    Router::new().route("/healthz", get(healthz)).merge(private).with_state(Ops {
        checks: Arc::new(checks),
        registry,
        draining,
    })
}

async fn only_admin(
    State(rule): State<Arc<AdminOnly>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let peer = req.extensions().get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let forwarded: Vec<&[u8]> = req.headers().get_all("x-forwarded-for").iter().map(|v| v.as_bytes()).collect();
    match crate::conn::client_ip(peer, &forwarded, &rule.trusted) {
        Some(ip) if rule.admin.contains(&ip) || rule.admin.contains(&ip.to_canonical()) => next.run(req).await,
        _ => crate::error::ApiError::not_found().into_response(),
    }
}

/// Alive and taking requests; 503 once shutting down, so balancers stop
/// sending new work before the listener closes.
async fn healthz(State(ops): State<Ops>) -> impl IntoResponse {
    if ops.draining.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "draining"})))
    } else {
        (StatusCode::OK, axum::Json(json!({"status": "ok"})))
    }
}

async fn readyz(State(ops): State<Ops>) -> impl IntoResponse {
    if ops.draining.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "draining"})));
    }
    let results = futures::future::join_all(ops.checks.iter().map(|(name, check)| {
        let fut = check();
        async move {
            let r = tokio::time::timeout(std::time::Duration::from_secs(2), fut)
                .await
                .unwrap_or_else(|_| Err("timed out after 2s".into()));
            (name.clone(), r)
        }
    }))
    .await;
    let failing: serde_json::Map<String, serde_json::Value> =
        results.into_iter().filter_map(|(n, r)| r.err().map(|e| (n, json!(e)))).collect();
    if failing.is_empty() {
        (StatusCode::OK, axum::Json(json!({"status": "ready"})))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "not ready", "failing": failing})))
    }
}

async fn metrics(State(ops): State<Ops>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        crate::metrics::encode(&ops.registry),
    )
}
