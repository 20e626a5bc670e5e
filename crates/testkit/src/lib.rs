//! Starting Aviary for tests, and a small typed client for its API.
//!
//! [`TestServer::start`] runs all-in-one in this process on port 0 with a
//! fresh [`TestStore`]; [`ProcessServer::start`] runs the real binary as a
//! child process (for restart and signal tests). Both expose a base URL;
//! [`Api`] speaks the Mastodon API to either.
//!
//! The store backend comes from `AVIARY_TEST_BACKEND`: `sqlite` (default;
//! a temporary data directory) or `postgres` (a fresh database per server,
//! dropped afterwards), so one suite runs unchanged on both.
#![forbid(unsafe_code)]

mod client;
pub mod engines;
mod process;
pub mod proxy;
mod split;

pub use client::{Api, User};
pub use process::ProcessServer;
pub use split::{SplitOptions, SplitSystem};

pub const ENV_BACKEND: &str = "AVIARY_TEST_BACKEND";
pub const ENV_MODE: &str = "AVIARY_TEST_MODE";

/// The system under test, in the mode `AVIARY_TEST_MODE` names:
/// `all-in-one` (default; in this process) or `split` (every component a
/// process of `binary`, two of each).
pub enum System {
    AllInOne(TestServer),
    Split(Box<SplitSystem>),
}

impl System {
    pub async fn start(binary: &Path) -> System {
        Self::start_with(binary, |_| {}).await
    }

    pub async fn start_with(binary: &Path, tweak: impl FnOnce(&mut Config)) -> System {
        match std::env::var(ENV_MODE).as_deref() {
            Ok("all-in-one") | Err(_) => System::AllInOne(TestServer::start_with(tweak).await),
            Ok("split") => {
                platform::telemetry::init_for_tests();
                System::Split(Box::new(SplitSystem::start(binary, tweak).await))
            }
            Ok(other) => panic!("{ENV_MODE}={other:?}: use all-in-one or split"),
        }
    }

    pub fn api(&self) -> Api {
        match self {
            System::AllInOne(s) => s.api(),
            System::Split(s) => s.api(),
        }
    }

    /// The base URL of (the first) gateway.
    pub fn base(&self) -> String {
        match self {
            System::AllInOne(s) => s.base.clone(),
            System::Split(s) => s.instances("gateway")[0].base.clone(),
        }
    }

    pub fn store(&self) -> &TestStore {
        match self {
            System::AllInOne(s) => s.store(),
            System::Split(s) => s.store(),
        }
    }

    pub async fn stop(self) {
        match self {
            System::AllInOne(s) => s.stop().await,
            System::Split(s) => s.stop().await,
        }
    }
}

/// Where a test server keeps its data: always a temporary directory, plus a
/// fresh PostgreSQL database when the backend is `postgres`.
pub struct TestStore {
    dir: tempfile::TempDir,
    pg: Option<testdb::TestDatabase>,
}

impl TestStore {
    pub async fn new() -> TestStore {
        let pg = match std::env::var(ENV_BACKEND).as_deref() {
            Ok("postgres") => Some(testdb::TestDatabase::create().await),
            Ok("sqlite") | Err(_) => None,
            Ok(other) => panic!("{ENV_BACKEND}={other:?}: use sqlite or postgres"),
        };
        TestStore { dir: tempfile::tempdir().expect("a temporary directory"), pg }
    }

    /// A store on PostgreSQL whatever the backend setting (split mode).
    pub async fn postgres() -> TestStore {
        TestStore {
            dir: tempfile::tempdir().expect("a temporary directory"),
            pg: Some(testdb::TestDatabase::create().await),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The PostgreSQL URL components use, when the backend is `postgres`.
    pub fn database_url(&self) -> Option<&str> {
        self.pg.as_ref().map(|p| p.url.as_str())
    }

    fn apply(&self, config: &mut Config) {
        config.data_dir = self.data_dir().to_path_buf();
        config.database.url = self.database_url().map(String::from);
    }
}

use aviary::App;
use aviary::config::Config;
use std::net::SocketAddr;
use std::path::Path;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// An all-in-one Aviary inside the test process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    stop: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    store: TestStore,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts on a fresh [`TestStore`] with `tweak` applied to the default
    /// configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let store = TestStore::new().await;
        platform::telemetry::init_for_tests();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("a literal address"),
            shutdown_grace_secs: 2,
            shutdown_drain_ms: 200,
            ..Config::default()
        };
        // Suites send hundreds of requests from one address and account;
        // the rate-limit tests turn limits back on.
        config.rate_limits.enabled = false;
        store.apply(&mut config);
        tweak(&mut config);
        let app = App::build(&config, &aviary::targets::Targets::all()).await.expect("the test server builds");
        let addr = app.local_addr();
        let stop = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(stop.clone()));
        TestServer { addr, base: format!("http://{addr}"), stop, task: Some(task), store }
    }

    pub fn store(&self) -> &TestStore {
        &self.store
    }

    pub fn api(&self) -> Api {
        Api::new(&self.base)
    }

    /// Graceful stop: stops accepting, drains, flushes the outbox.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            t.await.expect("server task joins").expect("server stopped cleanly");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
