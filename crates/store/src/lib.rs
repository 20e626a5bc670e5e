//! The SQL store port: opening a component's database on SQLite or
//! PostgreSQL, and the transactional outbox every event-publishing
//! component shares.
//!
//! Components talk to either engine through sqlx's `Any` driver with SQL
//! that is written once where the two agree (numbered `$1` parameters work
//! on both) and side by side ([`Db::sql`]) where they do not. Each component
//! owns one database: a SQLite file all-in-one, a schema named after it on
//! PostgreSQL; nothing here knows any component's tables except `outbox`.
#![forbid(unsafe_code)]

pub mod outbox;

pub use outbox::{Outbox, OutboxRelay};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, AssertSqlSafe, Executor};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Errors from the store, split by what the caller can do about them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or timed out: retryable, a 503.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A uniqueness rule was violated; carries the constraint's text.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(transparent)]
    Other(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => StoreError::Unavailable(e),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                // PostgreSQL names the constraint apart from the message.
                let what = format!("{} {}", db.message(), db.constraint().unwrap_or(""));
                StoreError::Conflict(what)
            }
            _ => StoreError::Other(e),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Where a component keeps its data.
#[derive(Debug, Clone)]
pub enum DbConfig {
    /// `<dir>/<component>.sqlite3`.
    Sqlite { dir: PathBuf },
    /// Schema `<component>` in this database; reads that tolerate lag go
    /// to `read_url` (a streaming replica) when given.
    Postgres { url: String, read_url: Option<String>, max_connections: u32 },
}

/// `[database]`: where components keep their data. Without a URL each
/// component uses its own SQLite file under the process's `data_dir`; with
/// a PostgreSQL URL each component uses its own schema (named after it)
/// in that database.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: Option<String>,
    /// A streaming replica for reads that tolerate lag (public and account
    /// timelines, follower lists, counts).
    pub read_url: Option<String>,
    /// Pool size per component and process.
    pub max_connections: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings { url: None, read_url: None, max_connections: 10 }
    }
}

impl DatabaseSettings {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(u) = &self.url
            && !(u.starts_with("postgres://") || u.starts_with("postgresql://"))
        {
            return Err(
                "database.url must be a postgres:// URL (leave it unset for SQLite files under data_dir)".into()
            );
        }
        if self.read_url.is_some() && self.url.is_none() {
            return Err("database.read_url needs database.url: a replica of which primary?".into());
        }
        if self.max_connections == 0 {
            return Err("database.max_connections must be at least 1".into());
        }
        Ok(())
    }

    /// The store every component opens: its own SQLite file under
    /// `data_dir`, or its own schema in the configured PostgreSQL database.
    pub fn db_config(&self, data_dir: &std::path::Path) -> DbConfig {
        match &self.url {
            Some(url) => DbConfig::Postgres {
                url: url.clone(),
                read_url: self.read_url.clone(),
                max_connections: self.max_connections,
            },
            None => DbConfig::Sqlite { dir: data_dir.to_path_buf() },
        }
    }
}

/// A component's migrations for each engine.
pub struct Migrations {
    pub sqlite: &'static Migrator,
    pub postgres: &'static Migrator,
}

/// A component's database handle: a pool and the engine it speaks to.
#[derive(Clone, Debug)]
pub struct Db {
    /// The primary: every write, and every read that must see them.
    pub pool: AnyPool,
    /// For reads that tolerate replication lag; the primary when no
    /// replica is configured.
    pub read_pool: AnyPool,
    pub dialect: Dialect,
}

impl Db {
    /// The pool for a read that may lag the latest writes by a little
    /// (lists and counters shown to readers, never read-your-writes paths).
    pub fn reader(&self) -> &AnyPool {
        &self.read_pool
    }

    /// `SELECT 1` on the primary, for readiness checks.
    pub async fn ping(&self) -> Result<(), String> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ()).map_err(|e| e.to_string())
    }

    /// Picks the statement for this engine.
    pub fn sql(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }

    /// Opens the component's database, creating it (or its schema) if
    /// needed, and runs its migrations before handing out the pool.
    pub async fn open(config: &DbConfig, component: &'static str, migrations: &Migrations) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let db = match config {
            DbConfig::Sqlite { dir } => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", dir.display()))?;
                let path = dir.join(format!("{component}.sqlite3"));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let options = AnyConnectOptions::from_str(&url)?;
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(5))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL: readers never wait for the writer. NORMAL
                            // sync in WAL survives process crashes (what
                            // all-in-one must survive); busy_timeout makes a
                            // second writer wait instead of failing.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
                migrations
                    .sqlite
                    .run(&pool)
                    .await
                    .map_err(|e| anyhow::anyhow!("migrating {} failed: {e}", path.display()))?;
                Db { read_pool: pool.clone(), pool, dialect: Dialect::Sqlite }
            }
            DbConfig::Postgres { url, read_url, max_connections } => {
                let pool = pg_pool(url, component, *max_connections).await?;
                // Instances of a component starting together on a fresh
                // database race to create its schema, and `IF NOT EXISTS`
                // does not stop the loser failing on the catalog's unique
                // index; a transaction-scoped advisory lock serialises
                // them. (Component names are fixed identifiers, never user
                // input.)
                let mut tx = pool.begin().await?;
                tx.execute(AssertSqlSafe(format!(
                    "SELECT pg_advisory_xact_lock(hashtext('aviary schema {component}'))"
                )))
                .await?;
                tx.execute(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {component}"))).await?;
                tx.commit().await?;
                migrations
                    .postgres
                    .run(&pool)
                    .await
                    .map_err(|e| anyhow::anyhow!("migrating the {component} schema failed: {e}"))?;
                let read_pool = match read_url {
                    Some(r) => pg_pool(r, component, *max_connections)
                        .await
                        .map_err(|e| anyhow::anyhow!("read replica: {e}"))?,
                    None => pool.clone(),
                };
                Db { pool, read_pool, dialect: Dialect::Postgres }
            }
        };
        Ok(db)
    }
}

/// A pool whose connections use the component's schema. Connections fail
/// fast (3 s to acquire), so an unreachable database is a quick 503.
async fn pg_pool(url: &str, component: &'static str, max_connections: u32) -> anyhow::Result<AnyPool> {
    let options =
        AnyConnectOptions::from_str(url).map_err(|e| anyhow::anyhow!("invalid PostgreSQL URL for {component}: {e}"))?;
    let search_path = format!("SET search_path TO {component}");
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .after_connect(move |conn, _| {
            let sql = search_path.clone();
            Box::pin(async move {
                conn.execute(AssertSqlSafe(sql)).await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL for {component}: {e}"))
}

/// A JSON array of ids. Lists are bound as one text parameter and
/// unpacked in SQL (`json_each` / `jsonb_array_elements_text`), which keeps
/// statements static whatever the list length, on both engines.
pub fn id_list(ids: &[model::Id]) -> String {
    let mut s = String::with_capacity(ids.len() * 20 + 2);
    s.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&id.get().to_string());
    }
    s.push(']');
    s
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Inserts `rows` into `insert` (`"INSERT INTO t (a, b, c)"`) in batches,
/// one multi-row statement per batch: bulk loads without a statement per
/// row. `bind` adds one row's values, exactly `columns` of them, in order.
pub async fn insert_rows<T>(
    pool: &AnyPool,
    insert: &str,
    columns: usize,
    rows: &[T],
    bind: impl for<'q> Fn(AnyQuery<'q>, &T) -> AnyQuery<'q>,
) -> anyhow::Result<()> {
    // Both engines cap the parameters of a statement (SQLite at 32,766).
    let per_batch = (30_000 / columns.max(1)).max(1);
    for batch in rows.chunks(per_batch) {
        let mut sql = String::with_capacity(insert.len() + batch.len() * columns * 6);
        sql.push_str(insert);
        sql.push_str(" VALUES ");
        let mut n = 0;
        for r in 0..batch.len() {
            sql.push_str(if r == 0 { "(" } else { ",(" });
            for c in 0..columns {
                n += 1;
                sql.push_str(if c == 0 { "$" } else { ",$" });
                sql.push_str(&n.to_string());
            }
            sql.push(')');
        }
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for row in batch {
            q = bind(q, row);
        }
        q.execute(pool).await?;
    }
    Ok(())
}
