//! The `aviary` binary's library half: configuration and the wiring that
//! starts the chosen components. `main.rs` only parses flags and calls
//! [`App::build`] / [`App::run_until_stopped`]; tests (through `testkit`)
//! build the same [`App`] in-process on port 0.
#![forbid(unsafe_code)]

pub mod config;

use anyhow::Context as _;
use axum::Router;
use bus::{Bus, InProcessBus};
use cache::MemoryTimelineCache;
use config::Config;
use futures::FutureExt;
use gateway::{Gateway, GatewaySettings};
use model::IdGenerator;
use platform::ops::ReadyCheck;
use posts::PostsService;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use store::{Db, OutboxRelay};
use timelines::{TimelinesHandler, TimelinesService};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use users::UsersService;

/// A built, bound, not yet serving Aviary.
pub struct App {
    listener: TcpListener,
    router: Router,
    relays: Vec<OutboxRelay>,
    grace: Duration,
    pub bus: InProcessBus,
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

impl App {
    /// Opens every component's store, wires the components together and
    /// binds the listener (port 0 picks a free port).
    pub async fn build(config: &Config) -> anyhow::Result<App> {
        config.validate()?;
        let ids = Arc::new(IdGenerator::new(config.worker_id));
        let db = config.db_config();
        let users = UsersService::open(&db, ids.clone()).await.context("starting users")?;
        let posts = PostsService::open(&db, ids.clone()).await.context("starting posts")?;

        let bus = InProcessBus::new();
        let cache = Arc::new(MemoryTimelineCache::new(config.timelines.cap));
        let users_api: Arc<dyn users::UsersApi> = Arc::new(users.clone());
        let posts_api: Arc<dyn posts::PostsApi> = Arc::new(posts.clone());
        let timelines = TimelinesService::new(cache, users_api.clone(), posts_api.clone(), config.timelines.cap);
        bus.subscribe(TimelinesHandler::subscription(), Arc::new(TimelinesHandler(timelines.clone())))
            .await
            .context("subscribing timelines to the bus")?;

        let shared_bus: Arc<dyn Bus> = Arc::new(bus.clone());
        let relays = vec![
            OutboxRelay {
                component: UsersService::COMPONENT,
                db: users.db().clone(),
                bus: shared_bus.clone(),
                outbox: users.outbox().clone(),
            },
            OutboxRelay {
                component: PostsService::COMPONENT,
                db: posts.db().clone(),
                bus: shared_bus,
                outbox: posts.outbox().clone(),
            },
        ];

        let settings = GatewaySettings {
            public_url: config.instance.public_url.clone(),
            title: config.instance.title.clone(),
            description: config.instance.description.clone(),
            contact_email: config.instance.contact_email.clone(),
            registrations_open: config.instance.registrations_open,
            max_characters: config.instance.max_characters,
            body_limit: config.http.body_limit_bytes,
        };
        let gateway = Gateway {
            users: users_api,
            posts: posts_api,
            timelines: Arc::new(timelines),
            settings: Arc::new(settings),
        };

        let mut registry = Registry::with_prefix("aviary");
        let http_metrics = platform::metrics::HttpMetrics::register(&mut registry);
        let checks = vec![db_ready("users database", users.db()), db_ready("posts database", posts.db())];
        let router = gateway
            .router()
            .merge(platform::ops::router(checks, Arc::new(registry)))
            .layer(axum::middleware::from_fn_with_state(http_metrics, platform::metrics::track));
        let router = platform::server::standard_layers(router);

        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}: is another process using it?", config.listen))?;
        Ok(App { listener, router, relays, grace: Duration::from_secs(config.shutdown_grace_secs), bus })
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
        tracing::info!(address = %self.listener.local_addr()?, "aviary serving (all-in-one)");
        let served = platform::server::serve(self.listener, self.router, stop, self.grace).await;
        // Requests are done; let the relays publish what those requests
        // committed before stopping them.
        relay_stop.cancel();
        while tasks.join_next().await.is_some() {}
        tracing::info!("aviary stopped");
        served.context("HTTP server failed")
    }
}
