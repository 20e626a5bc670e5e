//! Starting Aviary for tests, and a small typed client for its API.
//!
//! [`TestServer::start`] runs all-in-one in this process on port 0 with a
//! fresh data directory; [`ProcessServer::start`] runs the real binary as a
//! child process (for restart and signal tests). Both expose a base URL;
//! [`Api`] speaks the Mastodon API to either.
#![forbid(unsafe_code)]

mod client;
mod process;

pub use client::{Api, User};
pub use process::ProcessServer;

use aviary::App;
use aviary::config::Config;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// An all-in-one Aviary inside the test process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub bus: bus::InProcessBus,
    stop: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    data: DataDir,
}

enum DataDir {
    Temp(tempfile::TempDir),
    Given(PathBuf),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            DataDir::Temp(t) => t.path(),
            DataDir::Given(p) => p,
        }
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts with a fresh temporary data directory and `tweak` applied to
    /// the default configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Self::start_in(DataDir::Temp(dir), tweak).await
    }

    /// Starts on an existing data directory (to test restarts in-process).
    pub async fn start_on(data: &Path) -> TestServer {
        Self::start_in(DataDir::Given(data.to_path_buf()), |_| {}).await
    }

    async fn start_in(data: DataDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
        platform::telemetry::init_for_tests();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("a literal address"),
            data_dir: data.path().to_path_buf(),
            shutdown_grace_secs: 2,
            ..Config::default()
        };
        tweak(&mut config);
        let app = App::build(&config).await.expect("the test server builds");
        let addr = app.local_addr();
        let bus = app.bus.clone();
        let stop = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(stop.clone()));
        TestServer { addr, base: format!("http://{addr}"), bus, stop, task: Some(task), data }
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
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
