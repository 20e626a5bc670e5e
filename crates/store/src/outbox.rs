//! The transactional outbox.
//!
//! A component writes its state change and the event describing it in the
//! same transaction ([`Outbox::enqueue`]), so an event exists if and only if
//! the change committed. The [`OutboxRelay`] then publishes rows and deletes
//! each one only after the bus has taken responsibility for it (for
//! RabbitMQ: the publisher confirm). A crash between publish and delete
//! re-publishes the row on restart: at least once, never lost.
//!
//! On PostgreSQL several relays (one per component instance) run at once:
//! each claims a batch with `FOR UPDATE SKIP LOCKED` inside a transaction,
//! so no row is published by two relays at the same time, and a relay that
//! dies releases its rows when its transaction aborts. Rows are published
//! in order within a batch; two relays may interleave their batches, which
//! the consumers tolerate (every handler re-reads the current state).
//!
//! Expected table (declared in each publisher's migrations):
//! `outbox(seq <auto-increment> PRIMARY KEY, envelope TEXT NOT NULL)`.

use crate::{Db, Dialect};
use bus::Bus;
use model::Envelope;
use sqlx::{AnyConnection, Row};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A component's handle on its outbox: enqueue inside a transaction, then
/// [`Outbox::wake`] the relay after commit.
#[derive(Clone)]
pub struct Outbox {
    wake: Arc<Notify>,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    pub fn new() -> Self {
        Outbox { wake: Arc::new(Notify::new()) }
    }

    /// Writes `envelope`, stamped with the current trace context (the
    /// request's), so its consumers continue the same trace.
    pub async fn enqueue(conn: &mut AnyConnection, envelope: &Envelope) -> Result<(), sqlx::Error> {
        let json = match (&envelope.traceparent, trace::current()) {
            (None, Some(tp)) => serde_json::to_string(&Envelope { traceparent: Some(tp), ..envelope.clone() }),
            _ => serde_json::to_string(envelope),
        }
        .expect("an envelope always serialises");
        sqlx::query("INSERT INTO outbox (envelope) VALUES ($1)").bind(json).execute(conn).await?;
        Ok(())
    }

    /// Tells the relay that committed rows are waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

pub struct OutboxRelay {
    pub component: &'static str,
    pub db: Db,
    pub bus: Arc<dyn Bus>,
    pub outbox: Outbox,
}

impl OutboxRelay {
    const BATCH: i64 = 256;
    /// Rows can also appear without a wake-up (another process, a crash
    /// before the wake); poll this often as a safety net.
    const POLL: Duration = Duration::from_millis(500);
    const FINAL_FLUSH: Duration = Duration::from_secs(5);

    /// Runs until `stop` is cancelled, then publishes what is left (for at
    /// most [`Self::FINAL_FLUSH`]) and returns. Rows it cannot publish in
    /// time stay in the outbox for the next start.
    pub async fn run(self, stop: CancellationToken) {
        self.relay_until(&stop).await;
        let flushed = tokio::time::timeout(Self::FINAL_FLUSH, async {
            while matches!(self.drain_once().await, Ok(n) if n > 0) {}
        })
        .await;
        if flushed.is_err() {
            tracing::warn!(component = self.component, "outbox not empty at shutdown; the rest is sent on next start");
        }
    }

    async fn relay_until(&self, stop: &CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.drain_once().await {
                Ok(n) if n as i64 == Self::BATCH => continue,
                Ok(_) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(component = self.component, error = %format!("{e:#}"),
                        "outbox relay could not publish; will retry");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.outbox.wake.notified() => {}
                _ = tokio::time::sleep(Self::POLL) => {}
            }
        }
    }

    /// Publishes and removes up to one batch in sequence order; returns how
    /// many rows were published. A row is removed only after its publish
    /// succeeded; on error the rest stay for the next attempt.
    pub async fn drain_once(&self) -> anyhow::Result<usize> {
        match self.db.dialect {
            // One process owns a SQLite file: no one to race with, and no
            // long transaction (a read transaction that later writes would
            // conflict with every post committed meanwhile).
            Dialect::Sqlite => {
                let rows: Vec<(i64, String)> = sqlx::query_as("SELECT seq, envelope FROM outbox ORDER BY seq LIMIT $1")
                    .bind(Self::BATCH)
                    .fetch_all(&self.db.pool)
                    .await?;
                let mut done = 0;
                for (seq, json) in rows {
                    self.publish_row(seq, &json).await?;
                    sqlx::query("DELETE FROM outbox WHERE seq = $1").bind(seq).execute(&self.db.pool).await?;
                    done += 1;
                }
                Ok(done)
            }
            Dialect::Postgres => {
                let mut tx = self.db.pool.begin().await?;
                let rows = sqlx::query("SELECT seq, envelope FROM outbox ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED")
                    .bind(Self::BATCH)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut done = 0;
                for row in rows {
                    let (seq, json): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
                    if let Err(e) = self.publish_row(seq, &json).await {
                        // Keep what was published so far.
                        tx.commit().await?;
                        return Err(e);
                    }
                    sqlx::query("DELETE FROM outbox WHERE seq = $1").bind(seq).execute(&mut *tx).await?;
                    done += 1;
                }
                tx.commit().await?;
                Ok(done)
            }
        }
    }

    async fn publish_row(&self, seq: i64, json: &str) -> anyhow::Result<()> {
        match serde_json::from_str::<Envelope>(json) {
            Ok(envelope) => Ok(self.bus.publish(&envelope).await?),
            // A row this build cannot read would block every row after it
            // forever; log it loudly and drop it.
            Err(e) => {
                tracing::error!(component = self.component, seq, error = %e, "dropping unreadable outbox row");
                Ok(())
            }
        }
    }

    pub async fn backlog(db: &Db) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(&db.pool).await
    }
}

impl std::fmt::Debug for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        })
    }
}
