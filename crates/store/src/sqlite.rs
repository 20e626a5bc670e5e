//! SQLite, the all-in-one SQL adapter: one file per component, WAL so that
//! readers never wait for the writer, and the component's migrations run
//! before the pool is handed out.

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;

/// Opens (creating if needed) `dir/<component>.sqlite3` and migrates it.
pub async fn open(dir: &Path, component: &str, migrator: &Migrator) -> anyhow::Result<SqlitePool> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", dir.display()))?;
    let path = dir.join(format!("{component}.sqlite3"));
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // NORMAL in WAL mode is durable against process crashes (the case
        // all-in-one cares about); only an OS crash can lose the last commits.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    migrator.run(&pool).await.map_err(|e| anyhow::anyhow!("migrating {} failed: {e}", path.display()))?;
    Ok(pool)
}

/// A JSON array of ids, for `IN (SELECT value FROM json_each(?))`, which
/// keeps the SQL text static whatever the list length.
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
