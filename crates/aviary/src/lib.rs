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
pub mod registry;
pub mod targets;

use anyhow::{Context as _, bail};
use bus::{Bus, InProcessBus, RabbitBus};
use cache::{MemorySharedState, RedisConnection, RedisSharedState, SharedState};
use component::{Engines, SharedUse, Wiring};
use config::{Config, env_name};
use model::IdGenerator;
use platform::server::Shutdown;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use store::OutboxRelay;
use targets::Targets;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::util::BoxCloneSyncService;

/// A built, bound, not yet serving Aviary process.
pub struct App {
    listener: TcpListener,
    service: component::Service,
    relays: Vec<OutboxRelay>,
    shutdown: Shutdown,
    targets: Targets,
    /// Held for the life of the process: a broker-backed bus stops its
    /// consumers when dropped.
    bus: Arc<dyn Bus>,
}

/// Checks, before anything connects, that a split deployment has what each
/// of its components needs; the message says which setting to add.
/// A gateway reachable from other machines must know its public URL: the
/// links in its answers (pages, profiles, OAuth endpoints) would otherwise
/// follow each request's `Host`, which any client writes.
fn check_public_url(config: &Config, t: &Targets) -> anyhow::Result<()> {
    if t.has("gateway") && config.instance.public_url.is_none() && !config.listen.ip().is_loopback() {
        bail!(
            "instance.public_url ({}) must be set when the gateway listens on {} (not loopback): \
             it is the URL clients reach this server at, e.g. https://social.example",
            env_name(&["instance", "public_url"]),
            config.listen
        );
    }
    Ok(())
}

fn check_split_config(config: &Config, t: &Targets) -> anyhow::Result<()> {
    if t.is_all() {
        return Ok(());
    }
    if config.internal.secrets.is_empty() {
        bail!(
            "--target {t}: split mode needs internal.secrets ({}): a shared secret (e.g. `openssl rand -hex 32`) \
             every process of the deployment has, so that only they can call each other's internal routes",
            env_name(&["internal", "secrets"])
        );
    }
    for r in registry::COMPONENTS.iter().filter(|r| t.has(r.component.name())) {
        let (name, needs) = (r.component.name(), r.component.needs());
        let missing = |setting: &str, why: &str| {
            let path: Vec<&str> = setting.split('.').collect();
            anyhow::anyhow!("--target {t}: {name} in split mode needs {setting} ({}) {why}", env_name(&path))
        };
        if needs.database && config.database.url.is_none() {
            return Err(missing("database.url", "set to a PostgreSQL URL"));
        }
        if needs.bus && config.bus.amqp_url.is_none() {
            return Err(missing("bus.amqp_url", "so events reach other processes"));
        }
        if needs.redis && config.cache.redis_urls.is_empty() {
            return Err(missing("cache.redis_urls", "where its data lives"));
        }
        for used in r.component.uses() {
            if !t.has(used) && config.peers.addresses(used).is_empty() {
                bail!(
                    "--target {t}: {used} is not run here, so peers.{used} ({}) must list its instances",
                    env_name(&["peers", used])
                );
            }
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
        registry::check_peers(config).map_err(config::ConfigError)?;
        check_split_config(config, targets)?;
        check_public_url(config, targets)?;
        let local: Vec<&registry::Registered> =
            registry::COMPONENTS.iter().filter(|r| targets.has(r.component.name())).collect();

        let bus: Arc<dyn Bus> = match config.bus.rabbit() {
            Some(rabbit) => {
                Arc::new(RabbitBus::connect(rabbit).await.context("connecting to RabbitMQ (bus.amqp_url)")?)
            }
            None => Arc::new(InProcessBus::new()),
        };

        // One multiplexed Redis connection per process, for every use of
        // it: the timeline cache, the gateway's shared state, cached records.
        let record_ttl = Duration::from_secs(config.cache.record_ttl_secs);
        let uses_shared = local.iter().any(|r| match r.component.needs().shared {
            SharedUse::No => false,
            SharedUse::Yes => true,
            SharedUse::ForRecords => !record_ttl.is_zero(),
        });
        let redis = if !config.cache.redis_urls.is_empty() && uses_shared {
            let conn = RedisConnection::connect(
                &config.cache.redis_urls,
                config.cache.cluster,
                Duration::from_millis(config.cache.timeout_ms),
            )
            .await
            .context("connecting to Redis (cache.redis_urls)")?;
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

        let names: BTreeSet<&'static str> = local.iter().map(|r| r.component.name()).collect();
        let mut w = Wiring::new(
            Engines {
                db: config.db_config(),
                ids: Arc::new(IdGenerator::new(config.worker_id)),
                bus: bus.clone(),
                shared,
                redis,
                key_prefix: config.cache.key_prefix.clone(),
                record_ttl,
            },
            names,
        );
        // Components run elsewhere first (a client is only configuration),
        // then those run here in registry order: each finds the APIs it
        // calls already published.
        for r in registry::COMPONENTS {
            let name = r.component.name();
            let peers = config.peers.addresses(name);
            if !targets.has(name) && !peers.is_empty() {
                let secret = config.internal.secrets.first().cloned();
                let client = rpc::RpcClient::with_secret(name, &peers, config.peers.pool_for(name), secret)
                    .map_err(|e| anyhow::anyhow!("peers.{name}: {e}"))?;
                r.component.connect(&mut w, client);
            }
        }
        for r in &local {
            let settings = (r.settings)(config);
            r.component.start(&mut w, &*settings).await?;
        }
        let wired = w.finish();

        // Internal routes only where no public API is served: a process
        // that runs the gateway never exposes `/internal/…`.
        let (router, public) = match wired.public {
            Some(public) => (public.router, Some((public.wrap, public.tls))),
            None => {
                // Only calls proving the deployment's secret reach them.
                let secrets = Arc::new(rpc::Secrets::new(config.internal.secrets.clone()));
                let internal =
                    wired.internal.route_layer(axum::middleware::from_fn_with_state(secrets, rpc::require_secret));
                (internal.fallback(platform::error::fallback_not_found), None)
            }
        };
        let draining = wired.draining;
        // On a public port, readiness and metrics are for the operator's
        // hosts only; component ports are on the private network.
        let admin_only = public.is_some().then(|| platform::ops::AdminOnly {
            admin: config.http.admin_addresses.clone(),
            trusted: config.http.trusted_proxies.clone(),
        });
        let mut rules = config.http.connections();
        if public.is_none() {
            // Component ports are called by this deployment's own
            // processes, a few addresses holding many pooled connections:
            // only the process's cap applies there.
            rules.max_connections_per_ip = rules.max_connections;
        }
        let connections = platform::conn::Connections::new(rules, config.http.trusted_proxies.clone());
        let mut registry = wired.registry;
        connections.register_metrics(&mut registry);
        let router = router
            .merge(platform::ops::router(wired.checks, Arc::new(registry), draining.clone(), admin_only))
            .layer(axum::middleware::from_fn_with_state(wired.http_metrics, platform::metrics::track))
            .layer(axum::middleware::from_fn_with_state(draining.clone(), platform::server::mark_draining));
        let router = platform::server::standard_layers(router);
        // Pass-through paths are forwarded as they came, trailing slash and
        // all: the trimming wraps the router only.
        let router = platform::server::trim_trailing_slash(router);
        let router = BoxCloneSyncService::new(router);
        let (service, fast_path, tls) = match public {
            Some((Some(wrap), tls)) => {
                let (service, fast) = wrap(router);
                (service, Some(fast), tls)
            }
            Some((None, tls)) => (router, None, tls),
            None => (router, None, None),
        };

        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}: is another process using it?", config.listen))?;
        Ok(App {
            listener,
            service,
            relays: wired.relays,
            shutdown: Shutdown {
                draining,
                drain: Duration::from_millis(config.shutdown_drain_ms),
                grace: Duration::from_secs(config.shutdown_grace_secs),
                tls,
                front: fast_path,
                connections,
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
