//! Configuration: built-in defaults < optional TOML file (`--config`) <
//! `AVIARY_*` environment variables < command-line flags. Everything is
//! validated before any port is bound; an error names the setting, its
//! source and what would be accepted.

use platform::telemetry::LogFormat;
use pool::{Policy, PoolSettings};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const ENV_LISTEN: &str = "AVIARY_LISTEN";
pub const ENV_DATA: &str = "AVIARY_DATA";
pub const ENV_LOG_FORMAT: &str = "AVIARY_LOG_FORMAT";
pub const ENV_WORKER_ID: &str = "AVIARY_WORKER_ID";
pub const ENV_PUBLIC_URL: &str = "AVIARY_PUBLIC_URL";
pub const ENV_TITLE: &str = "AVIARY_TITLE";
pub const ENV_REGISTRATIONS_OPEN: &str = "AVIARY_REGISTRATIONS_OPEN";
pub const ENV_MAX_CHARACTERS: &str = "AVIARY_MAX_CHARACTERS";
pub const ENV_TIMELINE_CAP: &str = "AVIARY_TIMELINE_CAP";
pub const ENV_BODY_LIMIT: &str = "AVIARY_BODY_LIMIT_BYTES";
pub const ENV_DATABASE_URL: &str = "AVIARY_DATABASE_URL";
pub const ENV_DATABASE_READ_URL: &str = "AVIARY_DATABASE_READ_URL";
pub const ENV_REDIS_URLS: &str = "AVIARY_REDIS_URLS";
pub const ENV_REDIS_CLUSTER: &str = "AVIARY_REDIS_CLUSTER";
pub const ENV_REDIS_PREFIX: &str = "AVIARY_REDIS_PREFIX";
pub const ENV_RECORD_TTL: &str = "AVIARY_RECORD_TTL_SECS";
pub const ENV_AMQP_URL: &str = "AVIARY_AMQP_URL";
pub const ENV_AMQP_EXCHANGE: &str = "AVIARY_AMQP_EXCHANGE";
pub const ENV_AMQP_QUEUE_PREFIX: &str = "AVIARY_AMQP_QUEUE_PREFIX";
pub const ENV_PEERS_USERS: &str = "AVIARY_PEERS_USERS";
pub const ENV_PEERS_POSTS: &str = "AVIARY_PEERS_POSTS";
pub const ENV_PEERS_TIMELINES: &str = "AVIARY_PEERS_TIMELINES";
pub const ENV_RATE_LIMITS_ENABLED: &str = "AVIARY_RATE_LIMITS_ENABLED";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the public API listens on.
    pub listen: SocketAddr,
    /// Where all-in-one mode keeps its SQLite files.
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    /// Unique among running instances; part of every id minted (0–1023).
    pub worker_id: u16,
    /// Seconds to let in-flight requests finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// On SIGTERM, keep serving this long while telling callers (health
    /// checks, a response header) that this instance is going away, so
    /// their pools route around it before it stops accepting.
    pub shutdown_drain_ms: u64,
    pub instance: InstanceConfig,
    pub timelines: TimelinesConfig,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub cache: CacheConfig,
    pub bus: BusConfig,
    pub peers: PeersConfig,
    pub rate_limits: gateway::limits::RateLimitSettings,
    /// Pass-through routes (`[[proxy]]`): a path prefix forwarded to an
    /// upstream pool, WebSocket upgrades included.
    pub proxy: Vec<gateway::proxy::ProxyRouteConfig>,
}

/// The timeline cache: in memory (all-in-one), or Redis.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// One URL for a single node; any number of a Cluster's nodes with
    /// `cluster = true`. Empty: the in-process cache.
    pub redis_urls: Vec<String>,
    pub cluster: bool,
    /// Prepended to every key, to share a Redis between deployments.
    pub key_prefix: String,
    pub timeout_ms: u64,
    /// How long a cached post, account or author counter is kept after it
    /// was last written (readers fill it, its owner rewrites it on every
    /// change). 0 turns the record cache off: every read goes to the owner.
    pub record_ttl_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            redis_urls: vec![],
            cluster: false,
            key_prefix: "aviary:".into(),
            timeout_ms: 2000,
            record_ttl_secs: 600,
        }
    }
}

/// The event bus: in process (all-in-one), or RabbitMQ.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// `amqp://user:password@host:5672/vhost`. Empty: the in-process bus.
    pub amqp_url: Option<String>,
    pub exchange: String,
    pub queue_prefix: String,
    pub prefetch: u16,
    /// Events one process handles at once per consumer.
    pub handler_concurrency: usize,
    pub delivery_limit: u32,
    pub retry_delay_ms: u64,
}

impl Default for BusConfig {
    fn default() -> Self {
        let d = bus::RabbitConfig::new("");
        BusConfig {
            amqp_url: None,
            exchange: d.exchange,
            queue_prefix: d.queue_prefix,
            prefetch: d.prefetch,
            handler_concurrency: d.handler_concurrency,
            delivery_limit: d.delivery_limit,
            retry_delay_ms: d.retry_delay.as_millis() as u64,
        }
    }
}

/// Where other components' instances are, for the ones this process does
/// not run: `host:port` addresses or DNS names.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeersConfig {
    pub users: Vec<String>,
    pub posts: Vec<String>,
    pub timelines: Vec<String>,
    /// Balancing, health checks, timeouts and retries for every component's pool.
    pub pool: PoolSettings,
    /// A balancing policy per component, overriding `pool.policy`.
    pub policy: PolicyOverrides,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyOverrides {
    pub users: Option<Policy>,
    pub posts: Option<Policy>,
    pub timelines: Option<Policy>,
}

impl PeersConfig {
    /// The pool settings for calls to `component`.
    pub fn pool_for(&self, component: &str) -> PoolSettings {
        let over = match component {
            "users" => self.policy.users,
            "posts" => self.policy.posts,
            "timelines" => self.policy.timelines,
            _ => None,
        };
        PoolSettings { policy: over.unwrap_or(self.pool.policy), ..self.pool.clone() }
    }
}

/// Where components keep their data. Without a URL each component uses its
/// own SQLite file under `data_dir`; with a PostgreSQL URL each component
/// uses its own schema (named after it) in that database.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: Option<String>,
    /// A streaming replica for reads that tolerate lag (public and account
    /// timelines, follower lists, counts).
    pub read_url: Option<String>,
    /// Pool size per component and process.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: None, read_url: None, max_connections: 10 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceConfig {
    /// Base URL clients use, e.g. `https://social.example`. Taken from each
    /// request's Host header when unset.
    pub public_url: Option<String>,
    pub title: String,
    pub description: String,
    pub contact_email: String,
    pub registrations_open: bool,
    pub max_characters: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimelinesConfig {
    /// Entries kept per cached home timeline.
    pub cap: usize,
    /// A home timeline not read for this many days leaves the cache and
    /// gets no more fan-out; the account's next read rebuilds it.
    pub inactive_after_days: u32,
    /// Accounts with more followers than this are not fanned out:
    /// their followers' home reads pull their posts instead. They go back
    /// to fan-out below 90 % of it.
    pub celebrity_threshold: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub body_limit_bytes: usize,
    /// How long the gateway reuses a token check (0 disables the cache).
    pub auth_cache_ttl_ms: u64,
    /// Time budget of a public request; past it the gateway answers 504.
    pub request_timeout_ms: u64,
    /// Per-route budgets by route pattern, e.g. `"/api/v1/timelines/home" = 3000`.
    pub route_timeouts_ms: std::collections::HashMap<String, u64>,
    /// Public requests a gateway process handles at once; beyond it,
    /// requests are answered 503 with Retry-After rather than queued.
    pub max_in_flight: usize,
    /// How long a response waits for a part it can do without (authors'
    /// post counters) before it is served without it (`X-Aviary-Degraded`).
    pub optional_part_timeout_ms: u64,
    /// Addresses of the front (nginx, HAProxy) whose `X-Forwarded-For` is
    /// believed for per-IP rate limits.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// PEM certificate chain and private key: the gateway then serves
    /// HTTPS (HTTP/2 and HTTP/1.1 by ALPN). Component processes always
    /// serve plain HTTP on the private network.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("a literal address"),
            data_dir: PathBuf::from("./aviary-data"),
            log_format: LogFormat::Text,
            worker_id: 0,
            shutdown_grace_secs: 10,
            shutdown_drain_ms: 2_000,
            instance: InstanceConfig::default(),
            timelines: TimelinesConfig::default(),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            cache: CacheConfig::default(),
            bus: BusConfig::default(),
            peers: PeersConfig::default(),
            rate_limits: Default::default(),
            proxy: Vec::new(),
        }
    }
}

impl Default for InstanceConfig {
    fn default() -> Self {
        let g = gateway::GatewaySettings::default();
        InstanceConfig {
            public_url: g.public_url,
            title: g.title,
            description: g.description,
            contact_email: g.contact_email,
            registrations_open: g.registrations_open,
            max_characters: g.max_characters,
        }
    }
}

impl Default for TimelinesConfig {
    fn default() -> Self {
        TimelinesConfig {
            cap: timelines::TimelinesService::DEFAULT_CAP,
            inactive_after_days: 7,
            celebrity_threshold: timelines::TimelinesService::DEFAULT_CELEBRITY_THRESHOLD,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        let g = gateway::GatewaySettings::default();
        HttpConfig {
            body_limit_bytes: g.body_limit,
            auth_cache_ttl_ms: g.auth_cache_ttl.as_millis() as u64,
            request_timeout_ms: g.request_timeout.as_millis() as u64,
            route_timeouts_ms: g.route_timeouts,
            max_in_flight: g.max_in_flight,
            optional_part_timeout_ms: g.optional_timeout.as_millis() as u64,
            trusted_proxies: g.trusted_proxies,
            tls_cert: None,
            tls_key: None,
        }
    }
}

#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

fn bad(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

fn parse_env<T: std::str::FromStr>(
    env: &impl Fn(&str) -> Option<String>,
    name: &str,
    what: &str,
) -> Result<Option<T>, ConfigError> {
    match env(name) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| bad(format!("{name}={v:?} is not {what}"))),
    }
}

impl Config {
    /// The store every component opens: its own SQLite file, or its own
    /// schema in the configured PostgreSQL database.
    pub fn db_config(&self) -> store::DbConfig {
        match &self.database.url {
            Some(url) => store::DbConfig::Postgres {
                url: url.clone(),
                read_url: self.database.read_url.clone(),
                max_connections: self.database.max_connections,
            },
            None => store::DbConfig::Sqlite { dir: self.data_dir.clone() },
        }
    }

    /// Builds the configuration from a file (if given) and an environment
    /// lookup (the process environment in production; a map in tests).
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut c = match file {
            None => Config::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| bad(format!("cannot read config file {}: {e}", path.display())))?;
                toml::from_str(&text).map_err(|e| bad(format!("{}: {e}", path.display())))?
            }
        };
        if let Some(v) = parse_env(&env, ENV_LISTEN, "an address like 127.0.0.1:8080")? {
            c.listen = v;
        }
        if let Some(v) = env(ENV_DATA) {
            c.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env(ENV_LOG_FORMAT) {
            c.log_format = v.parse().map_err(|e| bad(format!("{ENV_LOG_FORMAT}: {e}")))?;
        }
        if let Some(v) = parse_env(&env, ENV_WORKER_ID, "an integer from 0 to 1023")? {
            c.worker_id = v;
        }
        if let Some(v) = env(ENV_PUBLIC_URL) {
            c.instance.public_url = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = env(ENV_TITLE) {
            c.instance.title = v;
        }
        if let Some(v) = parse_env(&env, ENV_REGISTRATIONS_OPEN, "true or false")? {
            c.instance.registrations_open = v;
        }
        if let Some(v) = parse_env(&env, ENV_MAX_CHARACTERS, "a positive integer")? {
            c.instance.max_characters = v;
        }
        if let Some(v) = parse_env(&env, ENV_TIMELINE_CAP, "a positive integer")? {
            c.timelines.cap = v;
        }
        if let Some(v) = parse_env(&env, ENV_BODY_LIMIT, "a number of bytes")? {
            c.http.body_limit_bytes = v;
        }
        if let Some(v) = env(ENV_DATABASE_URL) {
            c.database.url = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = env(ENV_DATABASE_READ_URL) {
            c.database.read_url = Some(v).filter(|s| !s.is_empty());
        }
        let list = |v: String| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        if let Some(v) = env(ENV_REDIS_URLS) {
            c.cache.redis_urls = list(v);
        }
        if let Some(v) = parse_env(&env, ENV_REDIS_CLUSTER, "true or false")? {
            c.cache.cluster = v;
        }
        if let Some(v) = env(ENV_REDIS_PREFIX) {
            c.cache.key_prefix = v;
        }
        if let Some(v) = parse_env(&env, ENV_RECORD_TTL, "a number of seconds (0: no record cache)")? {
            c.cache.record_ttl_secs = v;
        }
        if let Some(v) = env(ENV_AMQP_URL) {
            c.bus.amqp_url = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = env(ENV_AMQP_EXCHANGE) {
            c.bus.exchange = v;
        }
        if let Some(v) = env(ENV_AMQP_QUEUE_PREFIX) {
            c.bus.queue_prefix = v;
        }
        if let Some(v) = parse_env(&env, ENV_RATE_LIMITS_ENABLED, "true or false")? {
            c.rate_limits.enabled = v;
        }
        if let Some(v) = env(ENV_PEERS_USERS) {
            c.peers.users = list(v);
        }
        if let Some(v) = env(ENV_PEERS_POSTS) {
            c.peers.posts = list(v);
        }
        if let Some(v) = env(ENV_PEERS_TIMELINES) {
            c.peers.timelines = list(v);
        }
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.worker_id > model::id::MAX_WORKER {
            return Err(bad(format!("worker_id {} is above the maximum of {}", self.worker_id, model::id::MAX_WORKER)));
        }
        if !(1..=model::PostText::ABSOLUTE_MAX).contains(&self.instance.max_characters) {
            return Err(bad("instance.max_characters must be between 1 and 100000"));
        }
        if !(1..=3650).contains(&self.timelines.inactive_after_days) {
            return Err(bad("timelines.inactive_after_days must be between 1 and 3650"));
        }
        if self.timelines.celebrity_threshold == 0 {
            return Err(bad("timelines.celebrity_threshold must be at least 1"));
        }
        if !(1..=100_000).contains(&self.timelines.cap) {
            return Err(bad("timelines.cap must be between 1 and 100000"));
        }
        if self.http.body_limit_bytes < 1024 {
            return Err(bad("http.body_limit_bytes must be at least 1024"));
        }
        if let Some(u) = &self.instance.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(bad(format!("instance.public_url {u:?} must start with http:// or https://")));
        }
        if let Some(u) = &self.database.url
            && !(u.starts_with("postgres://") || u.starts_with("postgresql://"))
        {
            return Err(bad("database.url must be a postgres:// URL (leave it unset for SQLite files under data_dir)"));
        }
        if self.database.read_url.is_some() && self.database.url.is_none() {
            return Err(bad("database.read_url needs database.url: a replica of which primary?"));
        }
        if self.database.max_connections == 0 {
            return Err(bad("database.max_connections must be at least 1"));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(bad("data_dir must not be empty"));
        }
        self.peers.pool.validate().map_err(|e| bad(format!("peers.pool: {e}")))?;
        self.rate_limits.validate().map_err(bad)?;
        for p in &self.proxy {
            p.validate().map_err(bad)?;
        }
        if self.http.request_timeout_ms == 0 || self.http.route_timeouts_ms.values().any(|&t| t == 0) {
            return Err(bad("http.request_timeout_ms and http.route_timeouts_ms must be positive"));
        }
        if self.http.tls_cert.is_some() != self.http.tls_key.is_some() {
            return Err(bad("http.tls_cert and http.tls_key go together: set both or neither"));
        }
        if self.http.max_in_flight == 0 {
            return Err(bad("http.max_in_flight must be at least 1"));
        }
        for (name, list) in
            [("users", &self.peers.users), ("posts", &self.peers.posts), ("timelines", &self.peers.timelines)]
        {
            pool::parse_targets(list).map_err(|e| bad(format!("peers.{name}: {e}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\n[instance]\ntitle = \"From file\"\nmax_characters = 600\n")
            .unwrap();
        let c = Config::load(Some(&file), env(&[(ENV_TITLE, "From env")])).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.instance.title, "From env");
        assert_eq!(c.instance.max_characters, 600);
        assert_eq!(c.timelines.cap, 800);
        c.validate().unwrap();
    }

    #[test]
    fn bad_values_are_reported_with_their_source() {
        let e = Config::load(None, env(&[(ENV_LISTEN, "nowhere")])).unwrap_err();
        assert!(e.to_string().contains("AVIARY_LISTEN"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("b.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let e = Config::load(Some(&file), env(&[])).unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
        let c = Config::load(None, env(&[(ENV_WORKER_ID, "2000")])).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("worker_id"));
    }

    #[test]
    fn the_shipped_example_configs_load_and_validate() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
        for name in ["aviary.example.toml", "aviary.split.toml"] {
            let c = Config::load(Some(&root.join(name)), |_| None).unwrap_or_else(|e| panic!("{name}: {e}"));
            c.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let split = Config::load(Some(&root.join("aviary.split.toml")), |_| None).unwrap();
        assert_eq!(split.peers.pool_for("timelines").policy, Policy::ConsistentHash);
        assert_eq!(split.peers.pool_for("posts").policy, Policy::LeastOutstanding);
    }

    #[test]
    fn bad_pool_settings_and_targets_are_named() {
        let mut c = Config::default();
        c.peers.posts = vec!["posts".into()];
        assert!(c.validate().unwrap_err().to_string().contains("peers.posts"));
        let mut c = Config::default();
        c.peers.pool.max_attempts = 0;
        assert!(c.validate().unwrap_err().to_string().contains("peers.pool"));
    }
}
