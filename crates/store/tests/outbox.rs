//! The outbox on both engines: committed rows are published in order and
//! removed, rolled-back ones never exist, and on PostgreSQL several relays
//! draining one outbox at once publish every row exactly once.

use bus::{Bus, BusError, Handler, InProcessBus, Subscription};
use model::{Envelope, Event, Id};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use store::{Db, DbConfig, Migrations, Outbox, OutboxRelay};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations/postgres");
const MIGRATIONS: Migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES };

fn follow(n: i64) -> Envelope {
    Envelope::new("t", Event::FollowCreated { follower_id: Id::from_i64(n), followee_id: Id::from_i64(9) })
}

async fn enqueue(db: &Db, events: &[Envelope]) {
    let mut tx = db.pool.begin().await.unwrap();
    for e in events {
        Outbox::enqueue(&mut tx, e).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn committed_rows_are_published_in_order_and_removed(db: Db) {
    let bus = InProcessBus::new();
    let rec = Arc::new(bus::contract::Recorder::default());
    bus.subscribe(Subscription::new("t", &["follow.created"]), rec.clone()).await.unwrap();
    let sent: Vec<Envelope> = (1..=3).map(follow).collect();
    enqueue(&db, &sent).await;
    let mut tx = db.pool.begin().await.unwrap();
    Outbox::enqueue(&mut tx, &follow(99)).await.unwrap();
    tx.rollback().await.unwrap();

    let relay = OutboxRelay { component: "t", db: db.clone(), bus: Arc::new(bus), outbox: Outbox::new() };
    assert_eq!(relay.drain_once().await.unwrap(), 3);
    let got: Vec<String> = rec.seen.lock().unwrap().iter().map(|e| e.id.clone()).collect();
    assert_eq!(got, sent.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
    assert_eq!(OutboxRelay::backlog(&db).await.unwrap(), 0);
}

#[tokio::test]
async fn sqlite_outbox_publishes_committed_rows_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&DbConfig::Sqlite { dir: dir.path().into() }, "outbox_test", &MIGRATIONS).await.unwrap();
    committed_rows_are_published_in_order_and_removed(db).await;
}

#[tokio::test]
async fn postgres_outbox_publishes_committed_rows_in_order() {
    let pg = testdb::TestDatabase::create().await;
    let db = Db::open(&pg.config(), "outbox_test", &MIGRATIONS).await.unwrap();
    committed_rows_are_published_in_order_and_removed(db).await;
    pg.drop().await;
}

/// Counts every publish; fails one in `fail_every` to exercise the
/// retry path while several relays compete.
struct Counting {
    seen: Mutex<Vec<String>>,
    calls: Mutex<u64>,
    fail_every: u64,
}

#[async_trait::async_trait]
impl Bus for Counting {
    async fn publish(&self, e: &Envelope) -> Result<(), BusError> {
        let n = {
            let mut c = self.calls.lock().unwrap();
            *c += 1;
            *c
        };
        if n % self.fail_every == 0 {
            return Err(BusError::Unavailable("injected failure".into()));
        }
        self.seen.lock().unwrap().push(e.id.clone());
        Ok(())
    }
    async fn subscribe(&self, _: Subscription, _: Arc<dyn Handler>) -> Result<(), BusError> {
        unreachable!()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_postgres_relays_publish_every_row_exactly_once() {
    let pg = testdb::TestDatabase::create().await;
    let db = Db::open(&pg.config(), "outbox_test", &MIGRATIONS).await.unwrap();
    let sent: Vec<Envelope> = (1..=2000).map(follow).collect();
    for chunk in sent.chunks(200) {
        enqueue(&db, chunk).await;
    }
    let bus = Arc::new(Counting { seen: Mutex::new(vec![]), calls: Mutex::new(0), fail_every: 997 });
    let relays: Vec<_> = (0..4)
        .map(|_| {
            let relay = OutboxRelay { component: "t", db: db.clone(), bus: bus.clone(), outbox: Outbox::new() };
            tokio::spawn(async move {
                // Errors (injected) are retried, as the real relay does.
                loop {
                    if let Ok(0) = relay.drain_once().await
                        && OutboxRelay::backlog(&relay.db).await.unwrap() == 0
                    {
                        return;
                    }
                }
            })
        })
        .collect();
    for r in relays {
        r.await.unwrap();
    }
    let seen = bus.seen.lock().unwrap().clone();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), sent.len(), "every row published");
    assert_eq!(seen.len(), sent.len(), "no row published twice");
    pg.drop().await;
}

#[tokio::test]
async fn events_carry_the_trace_context_of_the_request_that_wrote_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&DbConfig::Sqlite { dir: dir.path().into() }, "outbox_test", &MIGRATIONS).await.unwrap();
    let root = trace::new_trace();
    trace::scope(Some(&root), enqueue(&db, &[follow(1)])).await;
    let bus = InProcessBus::new();
    let rec = Arc::new(bus::contract::Recorder::default());
    bus.subscribe(Subscription::new("t", &["follow.created"]), rec.clone()).await.unwrap();
    let relay = OutboxRelay { component: "t", db, bus: Arc::new(bus), outbox: Outbox::new() };
    assert_eq!(relay.drain_once().await.unwrap(), 1);
    let seen = rec.seen.lock().unwrap()[0].traceparent.clone().expect("stamped");
    assert_eq!(trace::trace_id(&seen), trace::trace_id(&root));
}

/// Several instances of a component starting at once on a fresh database
/// (a split deployment's first start) all open it: the schema is created
/// once and migrated once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_on_a_fresh_database_all_open_it() {
    let pg = testdb::TestDatabase::create().await;
    let config = pg.config();
    let opens = (0..6).map(|_| Db::open(&config, "outbox_test", &MIGRATIONS));
    for result in futures::future::join_all(opens).await {
        result.expect("every instance opens the database");
    }
    pg.drop().await;
}
