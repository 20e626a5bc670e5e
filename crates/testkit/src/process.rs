//! The real `aviary` binary as a child process, for tests that restart or
//! signal it. The port is chosen by the OS (`--listen 127.0.0.1:0`) and read
//! back from the JSON start-up log line.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct ProcessServer {
    pub base: String,
    child: Option<Child>,
}

impl ProcessServer {
    /// Starts the binary all-in-one on `store` (its data directory, and
    /// its database when the backend is PostgreSQL).
    pub async fn start(binary: &Path, store: &crate::TestStore) -> ProcessServer {
        let mut cmd = Command::new(binary);
        cmd.arg("--data").arg(store.data_dir()).env("AVIARY_RATE_LIMITS_ENABLED", "false");
        match store.database_url() {
            Some(url) => cmd.env("AVIARY_DATABASE_URL", url),
            None => cmd.env_remove("AVIARY_DATABASE_URL"),
        };
        Self::spawn(cmd).await
    }

    /// Spawns `cmd` (the aviary binary with its own arguments) on a port
    /// the OS picks, and waits until it logs that it is serving.
    pub async fn spawn(cmd: Command) -> ProcessServer {
        Self::spawn_on(cmd, "127.0.0.1:0").await
    }

    /// Like [`ProcessServer::spawn`], on a given address (to come back where
    /// callers expect an instance after a restart).
    pub async fn spawn_on(mut cmd: Command, listen: &str) -> ProcessServer {
        let mut child = cmd
            .args(["--listen", listen, "--log-format", "json"])
            .env("RUST_LOG", std::env::var("AVIARY_TEST_CHILD_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the aviary binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let find = async {
            while let Some(line) = lines.next_line().await.expect("reading aviary's log") {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    seen.push(line);
                    continue;
                };
                if let Some(addr) = v["address"].as_str() {
                    return Some(addr.to_string());
                }
                seen.push(line);
            }
            None
        };
        let addr = tokio::time::timeout(Duration::from_secs(30), find).await.expect("aviary starts within 30s");
        let Some(addr) = addr else { panic!("aviary exited before it was serving:\n{}", seen.join("\n")) };
        // Keep draining the log so the child never blocks on a full pipe;
        // echo it when TEST_LOG is set.
        let echo = std::env::var_os("TEST_LOG").is_some();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if echo {
                    eprintln!("{line}");
                }
            }
        });
        ProcessServer { base: format!("http://{addr}"), child: Some(child) }
    }

    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    pub fn api(&self) -> crate::Api {
        crate::Api::new(&self.base)
    }

    /// Stands in for an instance that was killed and not restarted.
    pub fn placeholder() -> ProcessServer {
        ProcessServer { base: "http://127.0.0.1:9".into(), child: None }
    }

    /// `kill -9`: no chance to flush or drain anything.
    pub async fn kill(mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().await.expect("SIGKILL delivered");
        }
    }

    /// Sends a signal by name (`STOP`, `CONT`, …) without waiting.
    pub async fn signal(&self, name: &str) {
        let pid = self.child.as_ref().and_then(|c| c.id()).expect("a running instance").to_string();
        let sent = Command::new("kill").args([&format!("-{name}"), &pid]).status().await.expect("kill runs");
        assert!(sent.success(), "kill -{name} {pid} failed");
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("a running instance");
        let pid = child.id().expect("the child is running").to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill runs");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("aviary exits within 30s of SIGTERM")
            .expect("waiting for aviary")
    }
}
