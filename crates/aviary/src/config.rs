//! Configuration: built-in defaults < optional TOML file (`--config`) <
//! `AVIARY_*` environment variables < command-line flags. Everything is
//! validated before any port is bound; an error names the setting, its
//! source and what would be accepted.
//!
//! Each section's type, defaults and checks live in the crate that uses it
//! (`[database]` in `store`, `[cache]` in `cache`, `[bus]` in `bus`,
//! `[timelines]` in `timelines`, `[instance]`, `[http]`, `[rate_limits]`
//! and `[[proxy]]` in `gateway`); this module only assembles them.
//!
//! Every setting has an environment variable by one rule: `AVIARY_` and
//! its path in upper case, sections joined by a double underscore
//! (`cache.redis_urls` → `AVIARY_CACHE__REDIS_URLS`, `peers.users` →
//! `AVIARY_PEERS__USERS`; a top-level `worker_id` → `AVIARY_WORKER_ID`).
//! Lists are comma-separated, an empty value unsets an optional setting.
//! The older names ([`ALIASES`], `AVIARY_PEERS_<NAME>`) still work and are
//! reported once at start-up with their new name.

use platform::telemetry::LogFormat;
use pool::{Policy, PoolSettings};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    pub instance: gateway::InstanceSettings,
    pub timelines: timelines::TimelinesSettings,
    pub users: users::UsersSettings,
    pub http: gateway::HttpSettings,
    pub database: store::DatabaseSettings,
    pub cache: cache::CacheSettings,
    pub bus: bus::BusSettings,
    pub peers: PeersConfig,
    pub internal: InternalSettings,
    pub rate_limits: gateway::limits::RateLimitSettings,
    /// Pass-through routes (`[[proxy]]`): a path prefix forwarded to an
    /// upstream pool, WebSocket upgrades included.
    pub proxy: Vec<gateway::proxy::ProxyRouteConfig>,
    /// Older environment names that were used, to report once logging runs.
    #[serde(skip)]
    pub notices: Vec<String>,
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
            instance: Default::default(),
            timelines: Default::default(),
            users: Default::default(),
            http: Default::default(),
            database: Default::default(),
            cache: Default::default(),
            bus: Default::default(),
            peers: PeersConfig::default(),
            internal: InternalSettings::default(),
            rate_limits: Default::default(),
            proxy: Vec::new(),
            notices: Vec::new(),
        }
    }
}

/// Where other components' instances are, for the ones this process does
/// not run: `[peers.<component>]`, one entry per registered component.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct PeersConfig {
    /// Balancing, health checks, timeouts and retries for every component's pool.
    pub pool: PoolSettings,
    /// A balancing policy per component, overriding `pool.policy` (the
    /// older form of `[peers.<component>] policy = …`).
    pub policy: BTreeMap<String, Policy>,
    /// The instances of each component, by its name.
    #[serde(flatten)]
    pub components: BTreeMap<String, Peer>,
}

/// One component's instances: `users = ["host:port", …]`, the same as one
/// comma-separated string (the environment's form), or a table with a
/// policy of its own.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Peer {
    List(Vec<String>),
    Text(String),
    Table {
        addresses: Vec<String>,
        #[serde(default)]
        policy: Option<Policy>,
    },
}

impl Peer {
    pub fn addresses(&self) -> Vec<String> {
        match self {
            Peer::List(l) | Peer::Table { addresses: l, .. } => l.clone(),
            Peer::Text(t) => t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
        }
    }
}

impl PeersConfig {
    /// The instances listed for `component` (none when not listed).
    pub fn addresses(&self, component: &str) -> Vec<String> {
        self.components.get(component).map(Peer::addresses).unwrap_or_default()
    }

    /// Sets `component`'s instances.
    pub fn set(&mut self, component: &str, addresses: Vec<String>) {
        self.components.insert(component.to_string(), Peer::List(addresses));
    }

    /// The pool settings for calls to `component`.
    pub fn pool_for(&self, component: &str) -> PoolSettings {
        let own = match self.components.get(component) {
            Some(Peer::Table { policy, .. }) => *policy,
            _ => None,
        };
        let policy = own.or_else(|| self.policy.get(component).copied()).unwrap_or(self.pool.policy);
        PoolSettings { policy, ..self.pool.clone() }
    }

    /// The component names the section mentions (checked against the
    /// registry when the process is built).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.components.keys().chain(self.policy.keys()).map(String::as_str)
    }

    fn validate(&self) -> Result<(), String> {
        self.pool.validate().map_err(|e| format!("peers.pool: {e}"))?;
        for (name, peer) in &self.components {
            pool::parse_targets(&peer.addresses()).map_err(|e| format!("peers.{name}: {e}"))?;
        }
        Ok(())
    }
}

/// `[internal]`: how the processes of a split deployment prove their calls
/// to each other's internal routes (which a gateway never serves).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct InternalSettings {
    /// Shared secrets: calls carry the first; the internal routes accept
    /// any. To rotate: add the new one second everywhere, then make it
    /// first everywhere, then drop the old one. Required in split mode.
    pub secrets: Vec<String>,
}

impl InternalSettings {
    /// The shortest secret accepted: 32 characters (of a random string,
    /// e.g. `openssl rand -hex 32`).
    pub const MIN_SECRET: usize = 32;

    fn validate(&self) -> Result<(), String> {
        if self.secrets.len() > 2 {
            return Err("internal.secrets takes at most two: the current one and, while rotating, the previous".into());
        }
        if self.secrets.iter().any(|s| s.len() < Self::MIN_SECRET || !s.bytes().all(|b| b.is_ascii_graphic())) {
            return Err(format!(
                "each of internal.secrets must be at least {} printable characters without spaces (e.g. `openssl rand -hex 32`)",
                Self::MIN_SECRET
            ));
        }
        Ok(())
    }
}

/// The environment variable of a setting's path (`["cache", "redis_urls"]`).
pub fn env_name(path: &[&str]) -> String {
    format!("AVIARY_{}", path.join("__").to_uppercase())
}

/// Environment names of earlier releases and the settings they set.
pub const ALIASES: &[(&str, &str)] = &[
    ("AVIARY_DATA", "data_dir"),
    ("AVIARY_PUBLIC_URL", "instance.public_url"),
    ("AVIARY_TITLE", "instance.title"),
    ("AVIARY_REGISTRATIONS_OPEN", "instance.registrations_open"),
    ("AVIARY_MAX_CHARACTERS", "instance.max_characters"),
    ("AVIARY_TIMELINE_CAP", "timelines.cap"),
    ("AVIARY_BODY_LIMIT_BYTES", "http.body_limit_bytes"),
    ("AVIARY_DATABASE_URL", "database.url"),
    ("AVIARY_DATABASE_READ_URL", "database.read_url"),
    ("AVIARY_REDIS_URLS", "cache.redis_urls"),
    ("AVIARY_REDIS_CLUSTER", "cache.cluster"),
    ("AVIARY_REDIS_PREFIX", "cache.key_prefix"),
    ("AVIARY_RECORD_TTL_SECS", "cache.record_ttl_secs"),
    ("AVIARY_AMQP_URL", "bus.amqp_url"),
    ("AVIARY_AMQP_EXCHANGE", "bus.exchange"),
    ("AVIARY_AMQP_QUEUE_PREFIX", "bus.queue_prefix"),
    ("AVIARY_RATE_LIMITS_ENABLED", "rate_limits.enabled"),
];

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

/// The value at `path` in `table`, if any.
fn lookup<'a>(table: &'a toml::Table, path: &[String]) -> Option<&'a toml::Value> {
    let (last, parents) = path.split_last()?;
    let mut t = table;
    for p in parents {
        t = t.get(p)?.as_table()?;
    }
    t.get(last)
}

/// An environment value as the setting's type: the default's type when
/// the setting has one, else what the text looks like.
fn typed(raw: &str, like: Option<&toml::Value>) -> Result<toml::Value, String> {
    use toml::Value as V;
    let raw = raw.trim();
    let inline = || {
        toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .ok_or_else(|| format!("{raw:?} is not a TOML value"))
    };
    Ok(match like {
        Some(V::String(_)) => V::String(raw.to_string()),
        Some(V::Integer(_)) => V::Integer(raw.parse().map_err(|_| format!("{raw:?} is not an integer"))?),
        Some(V::Float(_)) => V::Float(raw.parse().map_err(|_| format!("{raw:?} is not a number"))?),
        Some(V::Boolean(_)) => V::Boolean(raw.parse().map_err(|_| format!("{raw:?} is not true or false"))?),
        Some(V::Array(_)) if raw.starts_with('[') => inline()?,
        Some(V::Array(_)) => {
            V::Array(raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| V::String(s.into())).collect())
        }
        Some(V::Table(_)) => inline()?,
        _ => match raw {
            "true" | "false" => V::Boolean(raw == "true"),
            _ => raw.parse::<i64>().map(V::Integer).unwrap_or_else(|_| V::String(raw.to_string())),
        },
    })
}

/// `over` laid over `base`: tables merged key by key, anything else replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Sets (or, for an empty value, removes) `path` in `table`.
fn set(table: &mut toml::Table, path: &[String], value: Option<toml::Value>) -> Result<(), String> {
    let (last, parents) = path.split_last().expect("a setting has a path");
    let mut t = table;
    for p in parents {
        let entry = t.entry(p.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry.as_table_mut().ok_or_else(|| format!("{p} is not a section"))?;
    }
    match value {
        Some(v) => t.insert(last.clone(), v),
        None => t.remove(last),
    };
    Ok(())
}

impl Config {
    /// The store every component opens: its own SQLite file, or its own
    /// schema in the configured PostgreSQL database.
    pub fn db_config(&self) -> store::DbConfig {
        self.database.db_config(&self.data_dir)
    }

    /// The gateway's sections.
    pub fn gateway(&self) -> gateway::GatewaySettings {
        gateway::GatewaySettings {
            instance: self.instance.clone(),
            http: self.http.clone(),
            rate_limits: self.rate_limits.clone(),
            proxy: self.proxy.clone(),
        }
    }

    /// Builds the configuration from a file (if given) and the environment
    /// (the process's in production; a list in tests).
    pub fn load<K, V>(file: Option<&Path>, env: impl IntoIterator<Item = (K, V)>) -> Result<Config, ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let schema = toml::Table::try_from(Config::default()).expect("the defaults serialise");
        // The file over the defaults, so that a variable setting one field
        // of a table the file leaves out keeps the table's other defaults.
        let mut base = schema.clone();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad(format!("cannot read config file {}: {e}", path.display())))?;
            let from_file: toml::Table = toml::from_str(&text).map_err(|e| bad(format!("{}: {e}", path.display())))?;
            merge(&mut base, from_file);
        }
        let env: Vec<(String, String)> =
            env.into_iter().map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string())).collect();

        // (variable, path) of every override that applies; new names after
        // their aliases so that they win.
        let mut overrides: Vec<(String, Vec<String>, &str)> = Vec::new();
        let mut notices = Vec::new();
        // `AVIARY_PEERS_<NAME>`, the older form of `AVIARY_PEERS__<NAME>`.
        let peer_aliases: Vec<(String, String)> = env
            .iter()
            .filter_map(|(k, _)| {
                let name = k.strip_prefix("AVIARY_PEERS_").filter(|n| !n.is_empty() && !n.starts_with('_'))?;
                Some((k.clone(), format!("peers.{}", name.to_lowercase())))
            })
            .collect();
        for (old, path) in ALIASES.iter().map(|(a, p)| (a.to_string(), p.to_string())).chain(peer_aliases) {
            if let Some((_, v)) = env.iter().find(|(k, _)| *k == old) {
                let segments: Vec<String> = path.split('.').map(String::from).collect();
                let new = env_name(&segments.iter().map(String::as_str).collect::<Vec<_>>());
                notices.push(format!("{old} is an older name of {new} (setting {path}); it still works"));
                overrides.push((old, segments, v));
            }
        }
        for (k, v) in &env {
            let Some(rest) = k.strip_prefix("AVIARY_") else { continue };
            let segments: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            // A top-level name is a setting only if the file format has it
            // (other AVIARY_ variables belong to the command line or tests).
            let setting = segments.len() > 1 || schema.contains_key(&segments[0]);
            if setting && segments.iter().all(|s| !s.is_empty()) {
                overrides.push((k.clone(), segments, v));
            }
        }
        let mut values = Vec::with_capacity(overrides.len());
        for (var, path, raw) in &overrides {
            let value = if raw.trim().is_empty() {
                None
            } else {
                Some(typed(raw, lookup(&schema, path)).map_err(|e| bad(format!("{var}: {e}")))?)
            };
            values.push((var.as_str(), path.as_slice(), raw, value));
        }
        let apply = |skip: Option<usize>| -> Result<Config, String> {
            let mut table = base.clone();
            for (i, (var, path, _, value)) in values.iter().enumerate() {
                if Some(i) != skip {
                    set(&mut table, path, value.clone()).map_err(|e| format!("{var}: {e}"))?;
                }
            }
            table.try_into().map_err(|e: toml::de::Error| e.message().trim_end().to_string())
        };
        let mut c = apply(None).map_err(|msg| {
            // Name the variable whose value is wrong: the one without which
            // the rest reads.
            let blamed: Vec<String> = (0..values.len())
                .filter(|&i| apply(Some(i)).is_ok())
                .map(|i| format!("{}={:?}", values[i].0, values[i].2))
                .collect();
            match (blamed.is_empty(), file) {
                (false, _) => bad(format!("{msg} (from the environment: {})", blamed.join(", "))),
                (true, Some(f)) => bad(format!("{msg} (in {} or the AVIARY_ variables)", f.display())),
                (true, None) => bad(msg),
            }
        })?;
        c.notices = notices;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.worker_id > model::id::MAX_WORKER {
            return Err(bad(format!("worker_id {} is above the maximum of {}", self.worker_id, model::id::MAX_WORKER)));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(bad("data_dir must not be empty"));
        }
        self.timelines.validate().map_err(bad)?;
        self.users.validate().map_err(bad)?;
        self.database.validate().map_err(bad)?;
        self.gateway().validate().map_err(bad)?;
        self.peers.validate().map_err(bad)?;
        self.internal.validate().map_err(bad)?;
        Ok(())
    }

    /// Every setting's path, as the environment rule names them, from the
    /// defaults (optional settings without a default are not listed).
    pub fn setting_paths() -> Vec<String> {
        fn walk(prefix: &str, t: &toml::Table, out: &mut Vec<String>) {
            for (k, v) in t {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                match v {
                    toml::Value::Table(inner) if !inner.is_empty() => walk(&path, inner, out),
                    _ => out.push(path),
                }
            }
        }
        let mut out = Vec::new();
        walk("", &toml::Table::try_from(Config::default()).expect("the defaults serialise"), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\n[instance]\ntitle = \"From file\"\nmax_characters = 600\n")
            .unwrap();
        let c = Config::load(Some(&file), env(&[("AVIARY_INSTANCE__TITLE", "From env")])).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.instance.title, "From env");
        assert_eq!(c.instance.max_characters, 600);
        assert_eq!(c.timelines.cap, 800);
        c.validate().unwrap();
    }

    #[test]
    fn every_setting_has_an_environment_name_by_one_rule() {
        let c = Config::load(
            None,
            env(&[
                ("AVIARY_CACHE__REDIS_URLS", "redis://a:6379, redis://b:6379"),
                ("AVIARY_CACHE__RECORD_TTL_SECS", "0"),
                ("AVIARY_PEERS__POOL__MAX_ATTEMPTS", "5"),
                ("AVIARY_PEERS__POOL__POLICY", "round-robin"),
                ("AVIARY_PEERS__USERS", "127.0.0.1:1,127.0.0.1:2"),
                ("AVIARY_DATABASE__URL", "postgres://db/aviary"),
                ("AVIARY_HTTP__TRUSTED_PROXIES", "10.0.0.1"),
                ("AVIARY_RATE_LIMITS__SIGN_UP__REQUESTS", "7"),
                ("AVIARY_WORKER_ID", "12"),
                // Not settings: left alone.
                ("AVIARY_TARGET", "users"),
                ("AVIARY_TEST_MODE", "split"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.cache.redis_urls, ["redis://a:6379", "redis://b:6379"]);
        assert_eq!(c.cache.record_ttl_secs, 0);
        assert_eq!(c.peers.pool.max_attempts, 5);
        assert_eq!(c.peers.pool_for("users").policy, Policy::RoundRobin);
        assert_eq!(c.peers.addresses("users"), ["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!(c.database.url.as_deref(), Some("postgres://db/aviary"));
        assert_eq!(c.http.trusted_proxies, ["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]);
        assert_eq!(c.rate_limits.sign_up.requests, 7);
        assert_eq!(c.worker_id, 12);
        assert!(c.notices.is_empty());
        c.validate().unwrap();
        // An empty value unsets an optional setting.
        let c = Config::load(None, env(&[("AVIARY_DATABASE__URL", "")])).unwrap();
        assert_eq!(c.database.url, None);
    }

    #[test]
    fn older_names_still_work_are_reported_and_lose_to_the_new_ones() {
        let c = Config::load(
            None,
            env(&[
                ("AVIARY_RATE_LIMITS_ENABLED", "false"),
                ("AVIARY_DATABASE_URL", "postgres://old/aviary"),
                ("AVIARY_PEERS_POSTS", "127.0.0.1:7"),
                ("AVIARY_REDIS_URLS", "redis://x:6379"),
                ("AVIARY_DATA", "/tmp/aviary"),
                ("AVIARY_TITLE", "Old"),
                ("AVIARY_INSTANCE__TITLE", "New"),
            ]),
        )
        .unwrap();
        assert!(!c.rate_limits.enabled);
        assert_eq!(c.database.url.as_deref(), Some("postgres://old/aviary"));
        assert_eq!(c.peers.addresses("posts"), ["127.0.0.1:7"]);
        assert_eq!(c.cache.redis_urls, ["redis://x:6379"]);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/aviary"));
        assert_eq!(c.instance.title, "New");
        assert!(
            c.notices
                .iter()
                .any(|n| n.contains("AVIARY_RATE_LIMITS_ENABLED") && n.contains("AVIARY_RATE_LIMITS__ENABLED")),
            "{:?}",
            c.notices
        );
        assert!(c.notices.iter().any(|n| n.contains("AVIARY_PEERS__POSTS")), "{:?}", c.notices);
    }

    #[test]
    fn bad_values_are_reported_with_their_source() {
        let e = Config::load(None, env(&[("AVIARY_LISTEN", "nowhere")])).unwrap_err();
        assert!(e.to_string().contains("AVIARY_LISTEN"), "{e}");
        let e = Config::load(None, env(&[("AVIARY_TIMELINES__CAP", "many")])).unwrap_err();
        assert!(e.to_string().contains("AVIARY_TIMELINES__CAP"), "{e}");
        let e = Config::load(None, env(&[("AVIARY_TIMELINES__CAPP", "5")])).unwrap_err();
        assert!(e.to_string().contains("capp") && e.to_string().contains("AVIARY_TIMELINES__CAPP"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("b.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let e = Config::load(Some(&file), env(&[])).unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
        let c = Config::load(None, env(&[("AVIARY_WORKER_ID", "2000")])).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("worker_id"));
    }

    #[test]
    fn the_shipped_example_configs_load_and_validate() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
        for name in ["aviary.example.toml", "aviary.split.toml"] {
            let c = Config::load(Some(&root.join(name)), env(&[])).unwrap_or_else(|e| panic!("{name}: {e}"));
            c.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let split = Config::load(Some(&root.join("aviary.split.toml")), env(&[])).unwrap();
        assert_eq!(split.peers.pool_for("timelines").policy, Policy::ConsistentHash);
        assert_eq!(split.peers.pool_for("posts").policy, Policy::LeastOutstanding);
    }

    #[test]
    fn the_example_config_lists_every_setting_and_its_environment_name() {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/aviary.example.toml"))
                .unwrap();
        let mut missing = Vec::new();
        for path in Config::setting_paths() {
            let segments: Vec<&str> = path.split('.').collect();
            if !text.contains(&env_name(&segments)) {
                missing.push(env_name(&segments));
            }
        }
        assert!(missing.is_empty(), "deploy/aviary.example.toml does not list {missing:?}");
    }

    #[test]
    fn bad_pool_settings_and_peers_are_named() {
        let mut c = Config::default();
        c.peers.set("posts", vec!["posts".into()]);
        assert!(c.validate().unwrap_err().to_string().contains("peers.posts"));
        let mut c = Config::default();
        c.peers.pool.max_attempts = 0;
        assert!(c.validate().unwrap_err().to_string().contains("peers.pool"));
    }
}
