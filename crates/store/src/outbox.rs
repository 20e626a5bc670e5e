//! The transactional outbox.
//!
//! A component writes its state change and the event describing it in the
//! same transaction ([`Outbox::enqueue`]), so an event exists if and only if
//! the change committed. The [`OutboxRelay`] then publishes rows in order and
//! deletes each one only after the bus has taken responsibility for it. A
//! crash between publish and delete re-publishes the row on restart: at least
//! once, never lost.
//!
//! Expected table (declared in each publisher's migrations):
//! `outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, envelope TEXT NOT NULL)`.

use bus::Bus;
use model::Envelope;
use sqlx::{SqliteConnection, SqlitePool};
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

    pub async fn enqueue(conn: &mut SqliteConnection, envelope: &Envelope) -> Result<(), sqlx::Error> {
        let json = serde_json::to_string(envelope).expect("an envelope always serialises");
        sqlx::query("INSERT INTO outbox (envelope) VALUES (?)").bind(json).execute(conn).await?;
        Ok(())
    }

    /// Tells the relay that committed rows are waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

pub struct OutboxRelay {
    pub component: &'static str,
    pub pool: SqlitePool,
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

    /// Publishes up to one batch in sequence order; returns how many rows
    /// were published and removed.
    pub async fn drain_once(&self) -> anyhow::Result<usize> {
        let rows: Vec<(i64, String)> = sqlx::query_as("SELECT seq, envelope FROM outbox ORDER BY seq LIMIT ?")
            .bind(Self::BATCH)
            .fetch_all(&self.pool)
            .await?;
        let mut done = 0;
        for (seq, json) in rows {
            match serde_json::from_str::<Envelope>(&json) {
                Ok(envelope) => self.bus.publish(&envelope).await?,
                // A row this build cannot read would block every row after
                // it forever; log it loudly and drop it.
                Err(e) => tracing::error!(component = self.component, seq, error = %e,
                    "dropping unreadable outbox row"),
            }
            sqlx::query("DELETE FROM outbox WHERE seq = ?").bind(seq).execute(&self.pool).await?;
            done += 1;
        }
        Ok(done)
    }

    pub async fn backlog(pool: &SqlitePool) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(pool).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::{InProcessBus, Subscription};
    use model::{Event, Id};

    static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations");

    #[tokio::test]
    async fn relay_publishes_committed_rows_in_order_and_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::sqlite::open(dir.path(), "outbox-test", &MIGRATOR).await.unwrap();
        let bus = InProcessBus::new();
        let rec = Arc::new(bus::contract::Recorder::default());
        bus.subscribe(Subscription::new("t", &["follow.created"]), rec.clone()).await.unwrap();

        let sent: Vec<Envelope> = (1..=3)
            .map(|n| {
                Envelope::new("t", Event::FollowCreated { follower_id: Id::from_i64(n), followee_id: Id::from_i64(9) })
            })
            .collect();
        let mut tx = pool.begin().await.unwrap();
        for e in &sent {
            Outbox::enqueue(&mut tx, e).await.unwrap();
        }
        tx.commit().await.unwrap();
        // A rolled-back change leaves no event behind.
        let mut tx = pool.begin().await.unwrap();
        Outbox::enqueue(&mut tx, &sent[0]).await.unwrap();
        tx.rollback().await.unwrap();

        let relay = OutboxRelay { component: "t", pool: pool.clone(), bus: Arc::new(bus), outbox: Outbox::new() };
        assert_eq!(relay.drain_once().await.unwrap(), 3);
        let got: Vec<String> = rec.seen.lock().unwrap().iter().map(|e| e.id.clone()).collect();
        assert_eq!(got, sent.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
        assert_eq!(OutboxRelay::backlog(&pool).await.unwrap(), 0);
    }
}
