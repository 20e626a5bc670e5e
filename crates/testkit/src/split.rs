//! Split mode for tests: every component its own process of the real
//! binary, two instances of each, on real PostgreSQL (a fresh database),
//! Redis (a unique key prefix) and RabbitMQ (a unique exchange and queue
//! prefix), all removed again when the system is dropped.

use crate::engines::LocalRedis;
use crate::process::ProcessServer;
use crate::proxy::TcpProxy;
use crate::{Api, TestStore};
use aviary::config::{Config, env_name};
use aviary::registry;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// Failure-test variations of a split system.
#[derive(Debug, Clone, Copy, Default)]
pub struct SplitOptions {
    /// A private Redis the test may `FLUSHALL`.
    pub own_redis: bool,
    /// Route PostgreSQL through a [`TcpProxy`] the test can cut.
    pub proxy_postgres: bool,
    /// Route RabbitMQ through a [`TcpProxy`] the test can cut.
    pub proxy_rabbitmq: bool,
    /// `posts` instances (default two).
    pub posts_instances: Option<usize>,
}

/// How to start one instance again (same target, worker id and peers).
#[derive(Clone)]
struct Spec {
    target: &'static str,
    worker: u16,
    peers: Vec<(String, String)>,
}

/// One component's running instances and how each was started.
#[derive(Default)]
pub struct Instances {
    pub servers: Vec<ProcessServer>,
    specs: Vec<Spec>,
}

pub struct SplitSystem {
    /// Every registered component's instances, by name.
    components: BTreeMap<&'static str, Instances>,
    pub redis: Option<LocalRedis>,
    pub postgres_proxy: Option<TcpProxy>,
    pub rabbitmq_proxy: Option<TcpProxy>,
    binary: PathBuf,
    config_file: PathBuf,
    store: TestStore,
    config: Config,
    /// The broker as the cleanup reaches it (never through the proxy).
    direct_amqp: String,
    _config_dir: tempfile::TempDir,
    cleaned: bool,
}

const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn spawn(binary: &Path, config_file: &Path, spec: &Spec) -> impl std::future::Future<Output = ProcessServer> + use<> {
    spawn_on(binary, config_file, spec, "127.0.0.1:0")
}

fn spawn_on(
    binary: &Path,
    config_file: &Path,
    spec: &Spec,
    listen: &str,
) -> impl std::future::Future<Output = ProcessServer> + use<> {
    let mut cmd = Command::new(binary);
    cmd.args(["--target", spec.target, "--config"]).arg(config_file);
    // Nothing inherited from the caller's environment may steer it.
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str()
            && k.starts_with("AVIARY_")
            && !k.starts_with("AVIARY_TEST_")
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("AVIARY_WORKER_ID", spec.worker.to_string());
    for (k, v) in &spec.peers {
        cmd.env(k, v);
    }
    let listen = listen.to_string();
    async move { ProcessServer::spawn_on(cmd, &listen).await }
}

const INSTANCES: usize = 2;

fn addrs(servers: &[ProcessServer]) -> String {
    servers.iter().map(|s| s.addr().to_string()).collect::<Vec<_>>().join(",")
}

impl SplitSystem {
    pub async fn start(binary: &Path, tweak: impl FnOnce(&mut Config)) -> SplitSystem {
        Self::start_with(binary, SplitOptions::default(), tweak).await
    }

    pub async fn start_with(binary: &Path, options: SplitOptions, tweak: impl FnOnce(&mut Config)) -> SplitSystem {
        let store = TestStore::postgres().await;
        let run = uuid::Uuid::new_v4().simple().to_string();
        let redis = options.own_redis.then(LocalRedis::start);
        let postgres_proxy = if options.proxy_postgres { Some(TcpProxy::start("127.0.0.1:5432").await) } else { None };
        let rabbitmq_proxy = if options.proxy_rabbitmq { Some(TcpProxy::start("127.0.0.1:5672").await) } else { None };

        let mut config = Config { shutdown_grace_secs: 2, shutdown_drain_ms: 300, ..Config::default() };
        config.rate_limits.enabled = false;
        config.internal.secrets = vec![format!("{run}{run}")];
        let db_url = store.database_url().expect("a PostgreSQL store").to_string();
        config.database.url = Some(match &postgres_proxy {
            Some(p) => db_url.replacen("127.0.0.1:5432", &p.addr.to_string(), 1),
            None => db_url,
        });
        config.database.max_connections = 4;
        config.cache.redis_urls = vec![redis.as_ref().map_or("redis://127.0.0.1:6379".into(), |r| r.url())];
        config.cache.key_prefix = format!("test:{run}:");
        config.bus.amqp_url = Some(match &rabbitmq_proxy {
            Some(p) => format!("amqp://guest:guest@{}/%2f", p.addr),
            None => AMQP.into(),
        });
        config.bus.exchange = format!("test.{run}.events");
        config.bus.queue_prefix = format!("test.{run}.");
        config.bus.retry_delay_ms = 200;
        tweak(&mut config);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("aviary.toml");
        std::fs::write(&file, toml::to_string(&config).expect("the config serialises")).expect("config written");

        // Every registered component, in registry order (a component after
        // the ones it calls), each told where its callees' instances are.
        let mut worker = 0u16;
        let mut components: BTreeMap<&'static str, Instances> = BTreeMap::new();
        for r in registry::COMPONENTS {
            let name = r.component.name();
            let peers: Vec<(String, String)> = r
                .component
                .uses()
                .iter()
                .map(|used| (env_name(&["peers", used]), addrs(&components[used].servers)))
                .collect();
            let count = if name == "posts" { options.posts_instances.unwrap_or(INSTANCES) } else { INSTANCES };
            let mut instances = Instances::default();
            for _ in 0..count {
                worker += 1;
                let spec = Spec { target: name, worker, peers: peers.clone() };
                instances.servers.push(spawn(binary, &file, &spec).await);
                instances.specs.push(spec);
            }
            components.insert(name, instances);
        }
        SplitSystem {
            components,
            redis,
            postgres_proxy,
            rabbitmq_proxy,
            binary: binary.to_path_buf(),
            config_file: file,
            store,
            config,
            direct_amqp: AMQP.into(),
            _config_dir: dir,
            cleaned: false,
        }
    }

    /// `component`'s instances.
    /// The configuration every process was started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn instances(&self, component: &str) -> &[ProcessServer] {
        &self.components[component].servers
    }

    /// `kill -9` of `component`'s instance `i`; its address is kept for
    /// [`SplitSystem::restart_on`].
    pub async fn kill(&mut self, component: &str, i: usize) -> String {
        let servers = &mut self.components.get_mut(component).expect("a registered component").servers;
        let addr = servers[i].addr().to_string();
        let dead = std::mem::replace(&mut servers[i], ProcessServer::placeholder());
        dead.kill().await;
        addr
    }

    /// Starts `component`'s instance `i` again, as it was (same worker id
    /// and peers), on a new port.
    pub async fn restart(&mut self, component: &str, i: usize) {
        self.restart_on(component, i, "127.0.0.1:0").await;
    }

    /// Starts `component`'s instance `i` again on `addr`, where its
    /// callers' pools expect it.
    pub async fn restart_on(&mut self, component: &str, i: usize, addr: &str) {
        let instances = self.components.get_mut(component).expect("a registered component");
        instances.servers[i] = spawn_on(&self.binary, &self.config_file, &instances.specs[i], addr).await;
    }

    pub fn store(&self) -> &TestStore {
        &self.store
    }

    /// A client that spreads its requests over every gateway.
    pub fn api(&self) -> Api {
        Api::over(self.instances("gateway").iter().map(|g| g.base.clone()).collect())
    }

    /// Stops every process and removes the broker and cache state (the
    /// database goes with the store).
    pub async fn stop(mut self) {
        // Callers first (reverse registry order), so none logs its
        // callees' disappearance.
        for r in registry::COMPONENTS.iter().rev() {
            for p in self.components.remove(r.component.name()).map(|i| i.servers).unwrap_or_default() {
                p.kill().await;
            }
        }
        cleanup(&self.config, &self.direct_amqp).await;
        self.cleaned = true;
    }
}

impl Drop for SplitSystem {
    /// A test that ends without `stop()` (or panics) still leaves no queues
    /// or keys behind: the processes die with their handles
    /// (`kill_on_drop`), and the cleanup runs on a runtime of its own.
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        let config = self.config.clone();
        let amqp = self.direct_amqp.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(cleanup(&config, &amqp));
            }
        })
        .join();
    }
}

async fn cleanup(config: &Config, direct_amqp: &str) {
    {
        let url = direct_amqp;
        let rabbit = bus::RabbitConfig {
            exchange: config.bus.exchange.clone(),
            queue_prefix: config.bus.queue_prefix.clone(),
            ..bus::RabbitConfig::new(url)
        };
        let consumers: Vec<String> =
            registry::COMPONENTS.iter().flat_map(|r| r.component.subscriptions()).map(|s| s.consumer).collect();
        let consumers: Vec<&str> = consumers.iter().map(String::as_str).collect();
        if let Ok(b) = bus::RabbitBus::connect(rabbit).await {
            let _ = b.delete_topology(&consumers).await;
        }
    }
    if let Ok(client) = redis::Client::open("redis://127.0.0.1:6379")
        && let Ok(mut conn) = client.get_multiplexed_async_connection().await
    {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", config.cache.key_prefix))
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        for chunk in keys.chunks(500) {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await;
        }
    }
}
