//! The `aviary` binary's library half: configuration, targets and the
//! wiring that starts the chosen components. `main.rs` only parses flags
//! and calls [`App::build`] / [`App::run_until_stopped`]; tests (through
//! `testkit`) build the same [`App`] in-process on port 0.
//!
//! Every component is reached through its client trait. A component this
//! process runs is the in-process service; one it does not run is the
//! remote client over the pool of its instances (`[peers]`). The engines
//! behind the ports follow the configuration: SQLite or PostgreSQL, the
//! in-memory or Redis timeline cache, the in-process bus or RabbitMQ.
#![forbid(unsafe_code)]

pub mod config;
pub mod targets;

use anyhow::{Context as _, bail};
use axum::Router;
use bus::{Bus, InProcessBus, RabbitBus, RabbitConfig};
use cache::{
    MemorySharedState, MemoryTimelineCache, RecordMetrics, RedisConnection, RedisSharedState, RedisTimelineCache,
    SharedState, TimelineCache,
};
use config::Config;
use futures::FutureExt;
use gateway::limits::{Clock, RateLimiter};
use gateway::proxy::{PassThrough, PassThroughFront, ProxyRoute};
use gateway::{Gateway, GatewaySettings};
use model::IdGenerator;
use platform::ops::ReadyCheck;
use platform::server::{Draining, Shutdown};
use posts::{CachedPosts, PostsApi, PostsRecords, PostsService};
use prometheus_client::registry::Registry;
use rpc::RpcClient;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use store::{Db, OutboxRelay};
use targets::{Component, Targets};
use timelines::{TimelinesApi, TimelinesHandler, TimelinesService};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::util::BoxCloneSyncService;
use users::{CachedUsers, UsersApi, UsersService};

/// A built, bound, not yet serving Aviary process.
pub struct App {
    listener: TcpListener,
    service: BoxCloneSyncService<axum::extract::Request, axum::response::Response, std::convert::Infallible>,
    relays: Vec<OutboxRelay>,
    shutdown: Shutdown,
    targets: Targets,
    /// Held for the life of the process: a broker-backed bus stops its
    /// consumers when dropped.
    bus: Arc<dyn Bus>,
}

fn db_ready(name: &str, db: &Db) -> ReadyCheck {
    let pool = db.pool.clone();
    (
        name.to_string(),
        Arc::new(move || {
            let pool = pool.clone();
            async move { sqlx::query("SELECT 1").execute(&pool).await.map(|_| ()).map_err(|e| e.to_string()) }.boxed()
        }),
    )
}

fn redis_ready(conn: RedisConnection) -> ReadyCheck {
    (
        "timeline cache (Redis)".to_string(),
        Arc::new(move || {
            let mut conn = conn.clone();
            async move { redis::cmd("PING").query_async::<String>(&mut conn).await.map(|_| ()).map_err(|e| e.to_string()) }
                .boxed()
        }),
    )
}

/// Checks, before anything connects, that a split deployment has what each
/// of its components needs; the message says which setting to add.
fn check_split_config(config: &Config, t: &Targets) -> anyhow::Result<()> {
    if t.is_all() {
        return Ok(());
    }
    let stores = t.has(Component::Users) || t.has(Component::Posts);
    if stores && config.database.url.is_none() {
        bail!("--target {t}: users and posts in split mode need database.url (AVIARY_DATABASE_URL), a PostgreSQL URL");
    }
    if (stores || t.has(Component::Timelines)) && config.bus.amqp_url.is_none() {
        bail!("--target {t}: split mode needs bus.amqp_url (AVIARY_AMQP_URL) so events reach other processes");
    }
    if t.has(Component::Timelines) && config.cache.redis_urls.is_empty() {
        bail!("--target {t}: timelines in split mode needs cache.redis_urls (AVIARY_REDIS_URLS)");
    }
    let needs = |c: Component, by: &[Component]| !t.has(c) && by.iter().any(|b| t.has(*b));
    for (c, peers, by) in [
        (Component::Users, &config.peers.users, &[Component::Gateway, Component::Timelines][..]),
        (Component::Posts, &config.peers.posts, &[Component::Gateway, Component::Timelines][..]),
        (Component::Timelines, &config.peers.timelines, &[Component::Gateway][..]),
    ] {
        if needs(c, by) && peers.is_empty() {
            bail!(
                "--target {t}: {} is not run here, so peers.{} (AVIARY_PEERS_{}) must list its instances",
                c.name(),
                c.name(),
                c.name().to_uppercase()
            );
        }
    }
    Ok(())
}

impl App {
    /// Opens the stores of the components in `targets`, connects to the
    /// engines and peers, wires everything and binds the listener (port 0
    /// picks a free port).
    pub async fn build(config: &Config, targets: &Targets) -> anyhow::Result<App> {
        config.validate()?;
        check_split_config(config, targets)?;
        let ids = Arc::new(IdGenerator::new(config.worker_id));
        let db_config = config.db_config();
        let client = |name: &'static str, list: &[String]| {
            RpcClient::new(name, list, config.peers.pool_for(name)).map_err(|e| anyhow::anyhow!("peers.{name}: {e}"))
        };
        let mut checks = Vec::new();
        let mut registry = Registry::with_prefix("aviary");

        let bus: Arc<dyn Bus> = match &config.bus.amqp_url {
            Some(url) => Arc::new(
                RabbitBus::connect(RabbitConfig {
                    url: url.clone(),
                    exchange: config.bus.exchange.clone(),
                    queue_prefix: config.bus.queue_prefix.clone(),
                    prefetch: config.bus.prefetch,
                    handler_concurrency: config.bus.handler_concurrency,
                    delivery_limit: config.bus.delivery_limit,
                    retry_delay: Duration::from_millis(config.bus.retry_delay_ms),
                })
                .await
                .context("connecting to RabbitMQ (bus.amqp_url)")?,
            ),
            None => Arc::new(InProcessBus::new()),
        };

        // One multiplexed Redis connection per process, for the timeline
        // cache and the gateway's shared state alike.
        let record_ttl = Duration::from_secs(config.cache.record_ttl_secs);
        let caches_records = !record_ttl.is_zero();
        let redis = if !config.cache.redis_urls.is_empty()
            && (targets.has(Component::Timelines)
                || targets.has(Component::Gateway)
                || (caches_records && (targets.has(Component::Users) || targets.has(Component::Posts))))
        {
            let conn = RedisConnection::connect(
                &config.cache.redis_urls,
                config.cache.cluster,
                Duration::from_millis(config.cache.timeout_ms),
            )
            .await
            .context("connecting to Redis (cache.redis_urls)")?;
            // Readiness depends on Redis only where it holds the timelines;
            // the gateway's token cache falls back to `users` without it.
            if targets.has(Component::Timelines) {
                checks.push(redis_ready(conn.clone()));
            }
            Some(conn)
        } else {
            None
        };

        // What instances must agree on: the gateway's rate limits and token
        // checks, the accounts `timelines` serves by the pull path, cached
        // records. One process all-in-one, so memory will do there.
        let shared: Arc<dyn SharedState> = match &redis {
            Some(conn) => Arc::new(RedisSharedState::new(conn.clone(), &config.cache.key_prefix)),
            None => Arc::new(MemorySharedState::new()),
        };
        // A process caches a component's records only where every writer of
        // them reaches the same cache: in Redis, or in this process's memory
        // when the owner runs here (all-in-one). Otherwise its reads go to
        // the owner.
        let record_cache = |owner: Component| caches_records && (redis.is_some() || targets.has(owner));

        let mut relays = Vec::new();
        let mut local_users = None;
        let users: Option<Arc<dyn UsersApi>> = if targets.has(Component::Users) {
            let mut svc = UsersService::open(&db_config, ids.clone()).await.context("starting users")?;
            if record_cache(Component::Users) {
                svc = svc.with_records(users::account_records(shared.clone(), record_ttl));
            }
            checks.push(db_ready("users database", svc.db()));
            relays.push(OutboxRelay {
                component: UsersService::COMPONENT,
                db: svc.db().clone(),
                bus: bus.clone(),
                outbox: svc.outbox().clone(),
            });
            let api: Arc<dyn UsersApi> = Arc::new(svc);
            local_users = Some(api.clone());
            Some(api)
        } else if !config.peers.users.is_empty() {
            Some(rpc::Api::remote(client("users", &config.peers.users)?))
        } else {
            None
        };

        let mut local_posts = None;
        let posts: Option<Arc<dyn PostsApi>> = if targets.has(Component::Posts) {
            let mut svc = PostsService::open(&db_config, ids.clone()).await.context("starting posts")?;
            if record_cache(Component::Posts) {
                svc = svc.with_records(PostsRecords::new(shared.clone(), record_ttl));
            }
            checks.push(db_ready("posts database", svc.db()));
            relays.push(OutboxRelay {
                component: PostsService::COMPONENT,
                db: svc.db().clone(),
                bus: bus.clone(),
                outbox: svc.outbox().clone(),
            });
            let api: Arc<dyn PostsApi> = Arc::new(svc);
            local_posts = Some(api.clone());
            Some(api)
        } else if !config.peers.posts.is_empty() {
            Some(rpc::Api::remote(client("posts", &config.peers.posts)?))
        } else {
            None
        };

        // Readers in this process (the gateway, timelines) go through the
        // record cache; the internal routes serve the owner directly.
        let record_metrics = RecordMetrics::register(&mut registry);
        let users = users.map(|api| -> Arc<dyn UsersApi> {
            if record_cache(Component::Users) {
                let records = users::account_records(shared.clone(), record_ttl).with_metrics(record_metrics.clone());
                Arc::new(CachedUsers::new(api, records))
            } else {
                api
            }
        });
        let posts = posts.map(|api| -> Arc<dyn PostsApi> {
            if record_cache(Component::Posts) {
                let records = PostsRecords::new(shared.clone(), record_ttl).with_metrics(record_metrics.clone());
                Arc::new(CachedPosts::new(api, records))
            } else {
                api
            }
        });

        let mut local_timelines = None;
        let timelines: Option<Arc<dyn TimelinesApi>> = if targets.has(Component::Timelines) {
            let idle = Duration::from_secs(u64::from(config.timelines.inactive_after_days) * 24 * 3600);
            let (prefix, cap) = (&config.cache.key_prefix, config.timelines.cap);
            let cache: Arc<dyn TimelineCache> = match &redis {
                Some(conn) => Arc::new(RedisTimelineCache::with_idle_expiry(conn.clone(), prefix, cap, idle)),
                None => Arc::new(MemoryTimelineCache::with_idle_expiry(cap, idle)),
            };
            let svc = TimelinesService::new(
                cache,
                users.clone().expect("checked: timelines has users"),
                posts.clone().expect("checked: timelines has posts"),
                config.timelines.cap,
            )
            .with_celebrities(shared.clone(), config.timelines.celebrity_threshold);
            let handler = TimelinesHandler::new(svc.clone()).with_metrics(&mut registry);
            bus.subscribe(TimelinesHandler::subscription(), Arc::new(handler))
                .await
                .context("subscribing timelines to the bus")?;
            let api: Arc<dyn TimelinesApi> = Arc::new(svc);
            local_timelines = Some(api.clone());
            Some(api)
        } else if !config.peers.timelines.is_empty() {
            Some(rpc::Api::remote(client("timelines", &config.peers.timelines)?))
        } else {
            None
        };

        let mut router = Router::new();
        let mut front: Option<Gateway> = None;
        if targets.has(Component::Gateway) {
            let settings = GatewaySettings {
                public_url: config.instance.public_url.clone(),
                title: config.instance.title.clone(),
                description: config.instance.description.clone(),
                contact_email: config.instance.contact_email.clone(),
                registrations_open: config.instance.registrations_open,
                max_characters: config.instance.max_characters,
                body_limit: config.http.body_limit_bytes,
                auth_cache_ttl: Duration::from_millis(config.http.auth_cache_ttl_ms),
                trusted_proxies: config.http.trusted_proxies.clone(),
                request_timeout: Duration::from_millis(config.http.request_timeout_ms),
                route_timeouts: config.http.route_timeouts_ms.clone(),
                max_in_flight: config.http.max_in_flight,
                optional_timeout: Duration::from_millis(config.http.optional_part_timeout_ms),
            };
            let limits = RateLimiter::new(config.rate_limits.clone(), shared.clone(), Clock::System);
            let gateway = Gateway {
                users: users.clone().expect("checked: gateway has users"),
                posts: posts.clone().expect("checked: gateway has posts"),
                timelines: timelines.clone().expect("checked: gateway has timelines"),
                shared: shared.clone(),
                settings: Arc::new(settings),
                limits: Arc::new(limits),
                proxies: config
                    .proxy
                    .iter()
                    .map(|p| ProxyRoute::new(p, config.http.body_limit_bytes).map(Arc::new))
                    .collect::<Result<_, _>>()
                    .map_err(|e| anyhow::anyhow!("proxy: {e}"))?,
                in_flight: Arc::new(tokio::sync::Semaphore::new(config.http.max_in_flight)),
            };
            router = router.merge(gateway.clone().router());
            front = Some(gateway);
        } else {
            // Internal routes only where no public API is served: a
            // process that runs the gateway never exposes `/internal/…`.
            if let Some(api) = local_users {
                router = router.merge(rpc::router(api));
            }
            if let Some(api) = local_posts {
                router = router.merge(rpc::router(api));
            }
            if let Some(api) = local_timelines {
                router = router.merge(rpc::router(api));
            }
            router = router.fallback(platform::error::fallback_not_found);
        }

        let http_metrics = platform::metrics::HttpMetrics::register(&mut registry);
        let fast_path = platform::metrics::Counter::default();
        if front.as_ref().is_some_and(|gw| !gw.proxies.is_empty()) {
            registry.register(
                "gateway_fast_path_requests",
                "Pass-through requests served on the plain-HTTP/1.1 fast path; the rest take the full stack",
                fast_path.clone(),
            );
        }
        let draining = Draining::default();
        let router = router
            .merge(platform::ops::router(checks, Arc::new(registry), draining.clone()))
            .layer(axum::middleware::from_fn_with_state(http_metrics.clone(), platform::metrics::track))
            .layer(axum::middleware::from_fn_with_state(draining.clone(), platform::server::mark_draining));
        let router = platform::server::standard_layers(router);
        // Pass-through prefixes are served in front of the router (see
        // `gateway::proxy`).
        // Pass-through paths are forwarded as they came, trailing slash and all.
        let router = platform::server::trim_trailing_slash(router);
        let (service, fast_path) = match front {
            Some(gw) if !gw.proxies.is_empty() => {
                let front = Arc::new(PassThroughFront::new(gw, draining.clone(), http_metrics, fast_path));
                let fast_path: Arc<dyn platform::front::ServeFront> = front.clone();
                (BoxCloneSyncService::new(PassThrough::new(router, front)), Some(fast_path))
            }
            _ => (BoxCloneSyncService::new(router), None),
        };

        let tls = match (&config.http.tls_cert, &config.http.tls_key) {
            (Some(cert), Some(key)) if targets.has(Component::Gateway) => {
                Some(platform::tls::load(cert, key).map_err(|e| anyhow::anyhow!("http.tls_cert/tls_key: {e}"))?)
            }
            _ => None,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}: is another process using it?", config.listen))?;
        Ok(App {
            listener,
            service,
            relays,
            shutdown: Shutdown {
                draining,
                drain: Duration::from_millis(config.shutdown_drain_ms),
                grace: Duration::from_secs(config.shutdown_grace_secs),
                tls,
                front: fast_path,
            },
            targets: targets.clone(),
            bus,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves and relays events until `stop` is cancelled, then drains
    /// in-flight requests (within the grace period) and stops the relays.
    pub async fn run_until_stopped(self, stop: CancellationToken) -> anyhow::Result<()> {
        let relay_stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        for relay in self.relays {
            tasks.spawn(relay.run(relay_stop.clone()));
        }
        tracing::info!(address = %self.listener.local_addr()?, targets = %self.targets, "aviary serving");
        let served = platform::server::serve(self.listener, self.service, stop, self.shutdown).await;
        // Requests are done; let the relays publish what those requests
        // committed before stopping them.
        relay_stop.cancel();
        while tasks.join_next().await.is_some() {}
        drop(self.bus);
        tracing::info!("aviary stopped");
        served.context("HTTP server failed")
    }
}
