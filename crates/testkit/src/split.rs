//! Split mode for tests: every component its own process of the real
//! binary, two instances of each, on real PostgreSQL (a fresh database),
//! Redis (a unique key prefix) and RabbitMQ (a unique exchange and queue
//! prefix), all removed again when the system is dropped.

use crate::process::ProcessServer;
use crate::{Api, TestStore};
use aviary::config::Config;
use std::path::Path;
use tokio::process::Command;

pub struct SplitSystem {
    pub gateways: Vec<ProcessServer>,
    pub users: Vec<ProcessServer>,
    pub posts: Vec<ProcessServer>,
    pub timelines: Vec<ProcessServer>,
    store: TestStore,
    config: Config,
    _config_dir: tempfile::TempDir,
    cleaned: bool,
}

const INSTANCES: usize = 2;

fn addrs(servers: &[ProcessServer]) -> String {
    servers.iter().map(|s| s.addr().to_string()).collect::<Vec<_>>().join(",")
}

impl SplitSystem {
    pub async fn start(binary: &Path, tweak: impl FnOnce(&mut Config)) -> SplitSystem {
        let store = TestStore::postgres().await;
        let run = uuid::Uuid::new_v4().simple().to_string();
        let mut config = Config { shutdown_grace_secs: 2, ..Config::default() };
        config.database.url = store.database_url().map(String::from);
        config.database.max_connections = 4;
        config.cache.redis_urls = vec!["redis://127.0.0.1:6379".into()];
        config.cache.key_prefix = format!("test:{run}:");
        config.bus.amqp_url = Some("amqp://guest:guest@127.0.0.1:5672/%2f".into());
        config.bus.exchange = format!("test.{run}.events");
        config.bus.queue_prefix = format!("test.{run}.");
        config.bus.retry_delay_ms = 200;
        tweak(&mut config);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("aviary.toml");
        std::fs::write(&file, toml::to_string(&config).expect("the config serialises")).expect("config written");

        let mut worker = 0u16;
        let mut spawn = |target: &str, peers: &[(&str, String)]| {
            worker += 1;
            let mut cmd = Command::new(binary);
            cmd.args(["--target", target, "--config"]).arg(&file).env("AVIARY_WORKER_ID", worker.to_string());
            for (k, v) in peers {
                cmd.env(k, v);
            }
            // Nothing inherited from the caller's environment may steer it.
            for k in ["AVIARY_DATABASE_URL", "AVIARY_REDIS_URLS", "AVIARY_AMQP_URL"] {
                cmd.env_remove(k);
            }
            ProcessServer::spawn(cmd)
        };
        let mut users = Vec::new();
        let mut posts = Vec::new();
        for _ in 0..INSTANCES {
            users.push(spawn("users", &[]).await);
            posts.push(spawn("posts", &[]).await);
        }
        let stores = [("AVIARY_PEERS_USERS", addrs(&users)), ("AVIARY_PEERS_POSTS", addrs(&posts))];
        let mut timelines = Vec::new();
        for _ in 0..INSTANCES {
            timelines.push(spawn("timelines", &stores).await);
        }
        let all = [stores[0].clone(), stores[1].clone(), ("AVIARY_PEERS_TIMELINES", addrs(&timelines))];
        let mut gateways = Vec::new();
        for _ in 0..INSTANCES {
            gateways.push(spawn("gateway", &all).await);
        }
        SplitSystem { gateways, users, posts, timelines, store, config, _config_dir: dir, cleaned: false }
    }

    pub fn store(&self) -> &TestStore {
        &self.store
    }

    /// A client that spreads its requests over every gateway.
    pub fn api(&self) -> Api {
        Api::over(self.gateways.iter().map(|g| g.base.clone()).collect())
    }

    /// Stops every process and removes the broker and cache state (the
    /// database goes with the store).
    pub async fn stop(mut self) {
        for p in self.gateways.drain(..).chain(self.timelines.drain(..)).chain(self.posts.drain(..)) {
            p.kill().await;
        }
        for p in self.users.drain(..) {
            p.kill().await;
        }
        cleanup(&self.config).await;
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
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(cleanup(&config));
            }
        })
        .join();
    }
}

async fn cleanup(config: &Config) {
    if let Some(url) = &config.bus.amqp_url {
        let rabbit = bus::RabbitConfig {
            exchange: config.bus.exchange.clone(),
            queue_prefix: config.bus.queue_prefix.clone(),
            ..bus::RabbitConfig::new(url)
        };
        if let Ok(b) = bus::RabbitBus::connect(rabbit).await {
            let _ = b.delete_topology(&["timelines"]).await;
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
