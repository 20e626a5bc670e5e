//! A pass-through route: its configuration (`[[proxy]]`), and the route
//! as forwarding uses it (its upstream pool and kept connections).

use crate::upstream::Upstreams;
use platform::metrics::RouteSeries;
use pool::{Pool, PoolSettings};
use serde::{Deserialize, Serialize};
use std::time::Duration;

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
    /// Checks the route; `taken` are the path prefixes the application
    /// serves itself, which a pass-through route may not overlap.
    pub fn validate(&self, taken: &[&str]) -> Result<(), String> {
        let p = &self.prefix;
        if !p.starts_with('/') || p.len() < 2 || p.ends_with('/') || p.contains('{') || p.contains('*') {
            return Err(format!("proxy prefix {p:?} must look like /some/path (no trailing slash or wildcards)"));
        }
        if let Some(own) = taken.iter().find(|o| p.starts_with(**o) || o.starts_with(p.as_str())) {
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
    pub(crate) pool: Pool,
    pub(crate) upstreams: Upstreams,
    pub(crate) body_limit: usize,
    /// Its metric series, found at its first request.
    pub(crate) series: std::sync::OnceLock<RouteSeries>,
}

impl ProxyRoute {
    pub fn new(config: &ProxyRouteConfig, taken: &[&str], body_limit: usize) -> Result<ProxyRoute, String> {
        config.validate(taken)?;
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

/// Whether `path` is `prefix` or below it (at a segment boundary) and
/// stays there: no `.` or `..` segment (percent-encoded or not), no
/// backslash and no encoded slash or backslash — any of which an upstream
/// may resolve to a path outside the prefix (`/stream/../internal/…`). A
/// path that does not stay is not the route's; the router answers it.
pub(crate) fn under(path: &str, prefix: &str) -> bool {
    below(path, prefix).is_some_and(stays_put)
}

/// What follows `prefix` in `path` when `path` is `prefix` or below it (at a
/// segment boundary), whether or not it stays there.
pub(crate) fn below<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    path.strip_prefix(prefix).filter(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// No dot segment, backslash, or encoded slash or backslash in `path`,
/// without allocating (this runs for every pass-through request).
fn stays_put(path: &str) -> bool {
    let bytes = path.as_bytes();
    let encoded = |i: usize, hi: u8, lo: u8| {
        bytes.len() > i + 2 && bytes[i] == b'%' && bytes[i + 1] == hi && bytes[i + 2].to_ascii_lowercase() == lo
    };
    if bytes.iter().enumerate().any(|(i, &b)| b == b'\\' || encoded(i, b'2', b'f') || encoded(i, b'5', b'c')) {
        return false;
    }
    !path.split('/').any(|segment| dot_segment(segment.as_bytes()))
}

/// `.` or `..`, each dot written as itself or as `%2e`.
fn dot_segment(segment: &[u8]) -> bool {
    let (mut dots, mut i) = (0, 0);
    while i < segment.len() {
        if segment[i] == b'.' {
            i += 1;
        } else if segment.len() >= i + 3
            && segment[i] == b'%'
            && segment[i + 1] == b'2'
            && segment[i + 2] | 0x20 == b'e'
        {
            i += 3;
        } else {
            return false;
        }
        dots += 1;
    }
    (1..=2).contains(&dots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_leave_the_prefix_are_not_under_it() {
        for inside in ["/ext", "/ext/", "/ext/a/b", "/ext/a.b/c..d/...", "/ext/%2e%2e%2e", "/ext/a%20b"] {
            assert!(under(inside, "/ext"), "{inside}");
        }
        for outside in [
            "/ext/../internal/users/authenticate",
            "/ext/..",
            "/ext/./x",
            "/ext/%2e%2e/internal",
            "/ext/%2E./internal",
            "/ext/.%2e/internal",
            "/ext/..\\internal",
            "/ext/a%2f..%2finternal",
            "/ext/a%5C..",
            "/extra",
            "/other",
        ] {
            assert!(!under(outside, "/ext"), "{outside}");
        }
    }
}
