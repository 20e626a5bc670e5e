//! The gateway's configuration sections, as they appear in the file:
//! `[instance]`, `[http]`, `[rate_limits]` and `[[proxy]]`, with their
//! defaults and checks.

use crate::limits::RateLimitSettings;
use crate::proxy::ProxyRouteConfig;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the gateway is configured with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewaySettings {
    pub instance: InstanceSettings,
    pub http: HttpSettings,
    pub rate_limits: RateLimitSettings,
    /// Pass-through routes: a path prefix forwarded to an upstream pool.
    pub proxy: Vec<ProxyRouteConfig>,
}

impl GatewaySettings {
    pub fn validate(&self) -> Result<(), String> {
        self.instance.validate()?;
        self.http.validate()?;
        self.rate_limits.validate()?;
        let taken = crate::routes::own_prefixes();
        for p in &self.proxy {
            p.validate(&taken)?;
        }
        Ok(())
    }
}

/// `[instance]`: what the server tells clients about itself.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceSettings {
    /// Base URL clients use, e.g. `https://social.example`. Taken from each
    /// request's Host header when unset.
    pub public_url: Option<String>,
    pub title: String,
    pub description: String,
    pub contact_email: String,
    pub registrations_open: bool,
    pub max_characters: usize,
    pub polls: PollLimits,
}

/// `[instance] polls`: what a poll may be (advertised in
/// `configuration.polls`), Mastodon's defaults.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PollLimits {
    pub max_options: usize,
    pub max_characters_per_option: usize,
    pub min_expiration_secs: i64,
    pub max_expiration_secs: i64,
}

impl Default for PollLimits {
    fn default() -> Self {
        PollLimits {
            max_options: 4,
            max_characters_per_option: 50,
            min_expiration_secs: 300,
            max_expiration_secs: 2_629_746,
        }
    }
}

impl PollLimits {
    fn validate(&self) -> Result<(), String> {
        if !(2..=posts::NewPoll::MAX_OPTIONS).contains(&self.max_options) {
            return Err(format!("instance.polls.max_options must be between 2 and {}", posts::NewPoll::MAX_OPTIONS));
        }
        if !(1..=posts::NewPoll::MAX_OPTION_CHARS).contains(&self.max_characters_per_option) {
            return Err(format!(
                "instance.polls.max_characters_per_option must be between 1 and {}",
                posts::NewPoll::MAX_OPTION_CHARS
            ));
        }
        if self.min_expiration_secs < 1 || self.max_expiration_secs < self.min_expiration_secs {
            return Err("instance.polls: min_expiration_secs must be at least 1 and at most max_expiration_secs".into());
        }
        Ok(())
    }
}

impl Default for InstanceSettings {
    fn default() -> Self {
        InstanceSettings {
            public_url: None,
            title: "Aviary".into(),
            description: "A microblogging server speaking the Mastodon client API.".into(),
            contact_email: String::new(),
            registrations_open: true,
            max_characters: model::PostText::MAX_CHARS,
            polls: PollLimits::default(),
        }
    }
}

impl InstanceSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=model::PostText::ABSOLUTE_MAX).contains(&self.max_characters) {
            return Err("instance.max_characters must be between 1 and 100000".into());
        }
        if let Some(u) = &self.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(format!("instance.public_url {u:?} must start with http:// or https://"));
        }
        self.polls.validate()
    }
}

/// `[http]`: the public listener's limits, budgets and TLS.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// How long the gateway reuses a token check (0 disables the cache). A
    /// token revoked through `/oauth/revoke` stops working at once on every
    /// gateway; one revoked any other way stops within this time.
    pub auth_cache_ttl_ms: u64,
    /// Time budget of a public request; past it the gateway answers 504.
    pub request_timeout_ms: u64,
    /// Per-route budgets by route pattern, e.g. `"/api/v1/timelines/home" = 3000`;
    /// 0 exempts a route from any budget (streaming answers, long-lived
    /// connections).
    pub route_timeouts_ms: HashMap<String, u64>,
    /// Per-route body limits by route pattern, e.g. `"/api/v2/media" = 41943040`.
    pub route_body_limits_bytes: HashMap<String, usize>,
    /// Public requests a gateway process handles at once; beyond it,
    /// requests are answered 503 with Retry-After rather than queued.
    pub max_in_flight: usize,
    /// How long a response waits for a part it can do without (authors'
    /// post counters) before it is served without it (`X-Aviary-Degraded`).
    pub optional_part_timeout_ms: u64,
    /// Addresses of the front (nginx, HAProxy) whose `X-Forwarded-For` is
    /// believed for per-IP rate limits.
    pub trusted_proxies: Vec<IpAddr>,
    /// PEM certificate chain and private key: the gateway then serves
    /// HTTPS (HTTP/2 and HTTP/1.1 by ALPN). Component processes always
    /// serve plain HTTP on the private network.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// A request head must arrive whole within this once the server waits
    /// for one (from the connection's start or the previous answer: also
    /// the keep-alive idle timeout). Every listener, both HTTP paths.
    pub header_timeout_ms: u64,
    /// A request body slower than this (over windows of
    /// `header_timeout_ms`) is answered 408.
    pub min_body_bytes_per_sec: u64,
    /// Open connections per process; past it, new ones are closed at once.
    pub max_connections: usize,
    /// Open connections per client address (IPv6 by /64);
    /// `trusted_proxies` are exempt.
    pub max_connections_per_ip: usize,
    /// Client addresses that may read `/readyz` and `/metrics` on the
    /// public port (the monitoring hosts); others get 404.
    pub admin_addresses: Vec<IpAddr>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        let defaults = platform::conn::ConnectionSettings::default();
        HttpSettings {
            body_limit_bytes: 1024 * 1024,
            auth_cache_ttl_ms: 10_000,
            request_timeout_ms: 10_000,
            route_timeouts_ms: HashMap::new(),
            route_body_limits_bytes: HashMap::new(),
            max_in_flight: 1024,
            optional_part_timeout_ms: 300,
            trusted_proxies: Vec::new(),
            tls_cert: None,
            tls_key: None,
            header_timeout_ms: defaults.header_timeout_ms,
            min_body_bytes_per_sec: defaults.min_body_bytes_per_sec,
            max_connections: defaults.max_connections,
            max_connections_per_ip: defaults.max_connections_per_ip,
            admin_addresses: vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from(std::net::Ipv6Addr::LOCALHOST)],
        }
    }
}

impl HttpSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.body_limit_bytes < 1024 {
            return Err("http.body_limit_bytes must be at least 1024".into());
        }
        if self.request_timeout_ms == 0 {
            return Err("http.request_timeout_ms must be positive (a route exempt from budgets is listed in http.route_timeouts_ms with 0)".into());
        }
        if self.route_body_limits_bytes.values().any(|&l| l < 1024) {
            return Err("http.route_body_limits_bytes must each be at least 1024".into());
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("http.tls_cert and http.tls_key go together: set both or neither".into());
        }
        if self.max_in_flight == 0 {
            return Err("http.max_in_flight must be at least 1".into());
        }
        self.connections().validate()
    }

    /// The rules every listener holds its connections to.
    pub fn connections(&self) -> platform::conn::ConnectionSettings {
        platform::conn::ConnectionSettings {
            header_timeout_ms: self.header_timeout_ms,
            min_body_bytes_per_sec: self.min_body_bytes_per_sec,
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
        }
    }

    /// The time budget of requests to `route` (a route pattern); `None` for
    /// a route exempt from budgets.
    pub fn route_timeout(&self, route: &str) -> Option<Duration> {
        match self.route_timeouts_ms.get(route).copied().unwrap_or(self.request_timeout_ms) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// The largest body `route` (a route pattern) takes.
    pub fn body_limit(&self, route: &str) -> usize {
        self.route_body_limits_bytes.get(route).copied().unwrap_or(self.body_limit_bytes)
    }

    /// The largest body any route takes.
    pub fn largest_body_limit(&self) -> usize {
        self.route_body_limits_bytes.values().copied().fold(self.body_limit_bytes, usize::max)
    }

    pub fn auth_cache_ttl(&self) -> Duration {
        Duration::from_millis(self.auth_cache_ttl_ms)
    }

    pub fn optional_timeout(&self) -> Duration {
        Duration::from_millis(self.optional_part_timeout_ms)
    }
}
