//! A fresh PostgreSQL database per test: created with a random name on the
//! server at `AVIARY_TEST_POSTGRES` (default: the local server, as user
//! `postgres`), dropped when the test ends, even if it panics.
#![forbid(unsafe_code)]

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use store::DbConfig;

pub const ENV_SERVER: &str = "AVIARY_TEST_POSTGRES";
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

fn server() -> String {
    std::env::var(ENV_SERVER).unwrap_or_else(|_| DEFAULT_SERVER.to_string())
}

pub struct TestDatabase {
    pub name: String,
    pub url: String,
    dropped: bool,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let name = format!("aviary_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&format!("{}/postgres", server()))
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL answers at {} ({ENV_SERVER}); .ci/run starts it: {e}", server()));
        admin.execute(AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("CREATE DATABASE");
        let _ = admin.close().await;
        TestDatabase { url: format!("{}/{name}", server()), name, dropped: false }
    }

    pub fn config(&self) -> DbConfig {
        DbConfig::Postgres { url: self.url.clone(), read_url: None, max_connections: 8 }
    }

    pub async fn drop(mut self) {
        drop_database(&self.name).await;
        self.dropped = true;
    }
}

async fn drop_database(name: &str) {
    if let Ok(mut admin) = PgConnection::connect(&format!("{}/postgres", server())).await {
        let _ = admin.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await;
        let _ = admin.close().await;
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // A test that panicked skips `drop()`; clean up from a thread with
        // its own runtime (we may be inside the test's runtime here).
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(drop_database(&name));
            }
        })
        .join();
    }
}
