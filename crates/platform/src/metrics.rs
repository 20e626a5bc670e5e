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

/// The method as a label: one of HTTP's own methods, or `OTHER`. A client
/// chooses the method it sends, and a label per distinct one would let it
/// grow `/metrics` without bound (200 made-up methods once took it from
/// 58 KB to 989 KB).
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
    KNOWN.into_iter().find(|k| *k == method).unwrap_or("OTHER")
}

impl HttpMetrics {
    /// Records one request against its route template.
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: std::time::Duration) {
        let (method, route) = (method_label(method).to_string(), route.to_string());
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
        let method = method_label(method);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label_and_known_ones_keep_theirs() {
        let mut registry = Registry::default();
        let m = HttpMetrics::register(&mut registry);
        for i in 0..200 {
            m.record(&format!("X{i}"), "/r", 405, std::time::Duration::from_millis(1));
        }
        m.record("GET", "/r", 200, std::time::Duration::from_millis(1));
        let series = m.route("/p");
        for i in 0..50 {
            series.record(&format!("Y{i}"), 200, std::time::Duration::from_millis(1));
        }
        let text = encode(&registry);
        assert!(text.contains(r#"http_requests_total{method="OTHER",route="/r",status="405"} 200"#), "{text}");
        assert!(text.contains(r#"http_requests_total{method="OTHER",route="/p",status="200"} 50"#), "{text}");
        assert!(text.contains(r#"http_requests_total{method="GET",route="/r",status="200"} 1"#), "{text}");
        assert!(!text.contains("X1") && !text.contains("Y1"), "{text}");
    }
}
