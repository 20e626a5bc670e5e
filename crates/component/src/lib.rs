//! A component as a unit of wiring. Each component crate exports one
//! descriptor implementing [`Component`]: its name, the components it
//! calls, what it needs in split mode, its schema per engine, how it runs
//! in this process ([`Component::start`]: open its stores, subscribe to the
//! bus, keep its records in the cache, publish its API) and how it is
//! reached when it runs elsewhere ([`Component::connect`]). The binary
//! keeps one registry of descriptors (`aviary::registry`); `App::build`,
//! `--target`, `[peers.<name>]`, the test harness's split system and the
//! split deployment script all follow it.
//!
//! [`Wiring`] is what the binary hands a component: the engines this
//! process connected to, the APIs of the components started or connected
//! before it, and where it leaves its outputs (readiness checks, outbox
//! relays, its internal routes, or the public service for the gateway).
#![forbid(unsafe_code)]

use async_trait::async_trait;
use axum::Router;
use bus::Bus;
use cache::{RecordMetrics, RedisConnection, SharedState};
use futures::FutureExt;
use model::IdGenerator;
use platform::ops::ReadyCheck;
use platform::server::Draining;
use prometheus_client::registry::Registry;
use std::any::Any;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use store::{Db, DbConfig, Migrations, Outbox, OutboxRelay};

/// How a component uses the shared state (Redis across processes, memory
/// all-in-one), which decides whether a process connects to Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedUse {
    No,
    /// Always (rate limits, token checks, the celebrity set).
    Yes,
    /// Only when records are cached (`cache.record_ttl_secs` > 0).
    ForRecords,
}

/// What a component needs when it runs in a split deployment; checked
/// before anything connects, with a message naming the missing setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// `database.url`: a PostgreSQL database for its schema.
    pub database: bool,
    /// `bus.amqp_url`: a broker, so its events reach other processes.
    pub bus: bool,
    /// `cache.redis_urls`: its data lives in Redis.
    pub redis: bool,
    pub shared: SharedUse,
}

impl Needs {
    pub const NOTHING: Needs = Needs { database: false, bus: false, redis: false, shared: SharedUse::No };
}

/// A component's descriptor.
#[async_trait]
pub trait Component: Send + Sync + 'static {
    /// Its name in `--target`, `[peers.<name>]` and `/internal/<name>/…`.
    fn name(&self) -> &'static str;

    /// The components whose APIs it calls; each runs in the same process
    /// or is listed in `[peers.<name>]`. The registry lists them first.
    fn uses(&self) -> &'static [&'static str] {
        &[]
    }

    fn needs(&self) -> Needs;

    /// Its schema for each engine, when it keeps SQL data.
    fn migrations(&self) -> Option<&'static Migrations> {
        None
    }

    /// What it consumes from the bus (one durable queue per consumer on a
    /// broker).
    fn subscriptions(&self) -> Vec<bus::Subscription> {
        Vec::new()
    }

    /// Runs it in this process. `settings` is its configuration section
    /// as the registry hands it over.
    async fn start(&self, w: &mut Wiring, settings: &(dyn Any + Send + Sync)) -> anyhow::Result<()>;

    /// Reaches it through `client` when it runs in other processes. A
    /// component no one calls (the gateway) has nothing to connect.
    fn connect(&self, w: &mut Wiring, client: rpc::RpcClient) {
        let _ = (w, client);
    }
}

/// A component's settings as the registry handed them over.
pub fn settings<T: Any + Clone>(component: &str, settings: &(dyn Any + Send + Sync)) -> anyhow::Result<T> {
    settings
        .downcast_ref::<T>()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("{component} was handed settings of another type (a registry bug)"))
}

/// The service answering a process's port.
pub type Service =
    tower::util::BoxCloneSyncService<axum::extract::Request, axum::response::Response, std::convert::Infallible>;

/// Wraps the finished router (the process's operational routes and
/// standard layers added) into the service that answers the port, and the
/// fast path serving plain HTTP/1.1 connections beside it.
pub type WrapPublic = Box<dyn FnOnce(Service) -> (Service, Arc<dyn platform::listen::FastPath>) + Send>;

/// What the gateway builds for the public port.
pub struct Public {
    pub router: Router,
    /// The pass-through front, when `[[proxy]]` routes exist.
    pub wrap: Option<WrapPublic>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// What the binary hands each component, and what it collects from them.
pub struct Wiring {
    /// What this process connected to.
    pub engines: Engines,
    pub registry: Registry,
    pub draining: Draining,
    pub http_metrics: platform::metrics::HttpMetrics,
    pub record_metrics: RecordMetrics,
    local: BTreeSet<&'static str>,
    apis: HashMap<&'static str, Box<dyn Any + Send + Sync>>,
    checks: Vec<ReadyCheck>,
    relays: Vec<OutboxRelay>,
    internal: Router,
    public: Option<Public>,
}

/// The engines and process state a [`Wiring`] starts from.
pub struct Engines {
    /// Where components keep their SQL data.
    pub db: DbConfig,
    pub ids: Arc<IdGenerator>,
    pub bus: Arc<dyn Bus>,
    /// Shared between instances: Redis when configured, else memory.
    pub shared: Arc<dyn SharedState>,
    pub redis: Option<RedisConnection>,
    /// Prepended to every Redis key (`cache.key_prefix`).
    pub key_prefix: String,
    /// How long cached records live; zero turns the record cache off.
    pub record_ttl: Duration,
}

/// What the wiring produced, for the binary to serve.
pub struct Wired {
    pub registry: Registry,
    pub checks: Vec<ReadyCheck>,
    pub relays: Vec<OutboxRelay>,
    /// The internal routes of the components run here.
    pub internal: Router,
    pub public: Option<Public>,
    pub draining: Draining,
    pub http_metrics: platform::metrics::HttpMetrics,
}

impl Wiring {
    /// `local`: the names of the components this process runs.
    pub fn new(engines: Engines, local: BTreeSet<&'static str>) -> Wiring {
        let mut registry = Registry::with_prefix("aviary");
        let record_metrics = RecordMetrics::register(&mut registry);
        let http_metrics = platform::metrics::HttpMetrics::register(&mut registry);
        Wiring {
            engines,
            registry,
            draining: Draining::default(),
            http_metrics,
            record_metrics,
            local,
            apis: HashMap::new(),
            checks: Vec::new(),
            relays: Vec::new(),
            internal: Router::new(),
            public: None,
        }
    }

    pub fn runs(&self, component: &str) -> bool {
        self.local.contains(component)
    }

    /// Whether readers in this process cache `owner`'s records: only where
    /// every writer of them reaches the same cache — in Redis, or in this
    /// process's memory when the owner runs here (all-in-one). Otherwise
    /// reads go to the owner.
    pub fn caches_records(&self, owner: &str) -> bool {
        !self.engines.record_ttl.is_zero() && (self.engines.redis.is_some() || self.runs(owner))
    }

    /// Publishes a component run here: `served` answers its internal
    /// routes, `readers` is what other components in this process call
    /// (the same API, or a caching wrapper around it).
    pub fn publish<A: rpc::Api + ?Sized>(&mut self, served: Arc<A>, readers: Arc<A>) {
        let internal = std::mem::take(&mut self.internal);
        self.internal = internal.merge(rpc::router(served));
        self.apis.insert(A::COMPONENT, Box::new(readers));
    }

    /// Publishes a component reached over the network.
    pub fn publish_remote<A: rpc::Api + ?Sized>(&mut self, readers: Arc<A>) {
        self.apis.insert(A::COMPONENT, Box::new(readers));
    }

    /// The API of a component started or connected before the caller.
    pub fn api<A: rpc::Api + ?Sized>(&self) -> anyhow::Result<Arc<A>> {
        self.apis.get(A::COMPONENT).and_then(|b| b.downcast_ref::<Arc<A>>()).cloned().ok_or_else(|| {
            anyhow::anyhow!("{} is neither run by this process nor listed in peers.{}", A::COMPONENT, A::COMPONENT)
        })
    }

    /// Readiness follows `db`.
    pub fn check_database(&mut self, name: &str, db: &Db) {
        let db = db.clone();
        self.checks.push((
            name.to_string(),
            Arc::new(move || {
                let db = db.clone();
                async move { db.ping().await }.boxed()
            }),
        ));
    }

    /// Readiness follows Redis (for a component whose data lives there).
    pub fn check_redis(&mut self) {
        if let Some(conn) = self.engines.redis.clone() {
            self.checks.push((
                "timeline cache (Redis)".to_string(),
                Arc::new(move || {
                    let conn = conn.clone();
                    async move { conn.ping().await }.boxed()
                }),
            ));
        }
    }

    /// Publishes what `component` writes to its outbox.
    pub fn relay(&mut self, component: &'static str, db: &Db, outbox: &Outbox) {
        self.relays.push(OutboxRelay {
            component,
            db: db.clone(),
            bus: self.engines.bus.clone(),
            outbox: outbox.clone(),
        });
    }

    /// The gateway's public port.
    pub fn serve_public(&mut self, public: Public) {
        self.public = Some(public);
    }

    pub fn finish(self) -> Wired {
        Wired {
            registry: self.registry,
            checks: self.checks,
            relays: self.relays,
            internal: self.internal,
            public: self.public,
            draining: self.draining,
            http_metrics: self.http_metrics,
        }
    }
}
