//! Prometheus metrics without a global registry: each process builds one
//! [`Registry`], every part registers its own families under its prefix,
//! and `/metrics` encodes it. Tests that run several servers in one process
//! therefore never see each other's numbers.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
pub use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::RwLock;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub method: String,
    pub route: String,
}

/// Request rate, errors (by status) and latency per route.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: Family<RouteLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
}

impl HttpMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
        });
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        HttpMetrics { requests, latency }
    }
}

impl HttpMetrics {
    /// Records one request against its route template.
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: std::time::Duration) {
        let (method, route) = (method.to_string(), route.to_string());
        self.latency
            .get_or_create(&LatencyLabels { method: method.clone(), route: route.clone() })
            .observe(elapsed.as_secs_f64());
        self.requests.get_or_create(&RouteLabels { method, route, status }).inc();
    }
}

impl HttpMetrics {
    /// The series of one route, for a caller that records many requests
    /// against it (the gateway's pass-through routes).
    pub fn route(&self, route: &str) -> RouteSeries {
        RouteSeries { metrics: self.clone(), route: route.to_string(), found: RwLock::default() }
    }
}

/// One route's counters and histograms, each looked up once per method and
/// status and then kept: finding a series by its labels allocates the
/// labels and hashes them, too much for every proxied request.
pub struct RouteSeries {
    metrics: HttpMetrics,
    route: String,
    found: RwLock<Vec<(String, u16, Counter, Histogram)>>,
}

impl RouteSeries {
    pub fn record(&self, method: &str, status: u16, elapsed: std::time::Duration) {
        let count = |(_, _, requests, latency): &(String, u16, Counter, Histogram)| {
            latency.observe(elapsed.as_secs_f64());
            requests.inc();
        };
        let is = |(m, s, ..): &&(String, u16, Counter, Histogram)| m == method && *s == status;
        if let Some(series) = self.found.read().expect("series lock").iter().find(is) {
            return count(series);
        }
        let mut found = self.found.write().expect("series lock");
        if !found.iter().any(|f| is(&f)) {
            let (m, route) = (method.to_string(), self.route.clone());
            let latency =
                self.metrics.latency.get_or_create(&LatencyLabels { method: m.clone(), route: route.clone() }).clone();
            let requests =
                self.metrics.requests.get_or_create(&RouteLabels { method: m.clone(), route, status }).clone();
            found.push((m, status, requests, latency));
        }
        found.iter().find(is).map(count);
    }
}

/// Middleware recording every request against its route template (not the
/// raw path, which would make one series per id).
pub async fn track(State(m): State<HttpMetrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().clone();
    let start = Instant::now();
    let resp = next.run(req).await;
    m.record(method.as_str(), &route, resp.status().as_u16(), start.elapsed());
    resp
}

pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).expect("writing to a String cannot fail");
    out
}
