//! Engines a test owns outright (so it may flush or kill them without
//! touching the shared ones): a private `redis-server` on a spare port.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct LocalRedis {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl LocalRedis {
    pub fn start() -> LocalRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let r = LocalRedis { port, child, _dir: dir };
        for _ in 0..100 {
            if r.cli(&["ping"]).contains("PONG") {
                return r;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the private redis-server on port {port} did not answer");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs `redis-cli` against this server; returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
