//! The contract every [`Bus`] adapter passes. Adapters call [`run_all`]
//! from their own tests with a factory for fresh, isolated instances.

use crate::{Bus, Handler, Subscription};
use async_trait::async_trait;
use model::{Envelope, Event, Id};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
pub struct Recorder {
    pub seen: Mutex<Vec<Envelope>>,
    /// Event ids that fail every time they are handled.
    pub poison: Mutex<Vec<String>>,
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, envelope: &Envelope) -> anyhow::Result<()> {
        if self.poison.lock().unwrap().contains(&envelope.id) {
            anyhow::bail!("poisoned event");
        }
        self.seen.lock().unwrap().push(envelope.clone());
        Ok(())
    }
}

fn follow(n: i64) -> Envelope {
    Envelope::new("contract", Event::FollowCreated { follower_id: Id::from_i64(n), followee_id: Id::from_i64(n + 1) })
}

async fn wait_for(rec: &Recorder, n: usize) {
    for _ in 0..500 {
        if rec.seen.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Events must survive serialisation: a broker adapter sends JSON, the
/// in-process bus passes values, and both must deliver the same thing.
pub async fn events_arrive_intact<B: Bus>(bus: &B) {
    let rec = Arc::new(Recorder::default());
    bus.subscribe(Subscription::new("intact", &["post.created"]), rec.clone()).await.unwrap();
    let mut sent = Envelope::new(
        "contract",
        Event::PostCreated {
            post_id: Id::from_i64(384_035_377_322_655_744),
            author_id: Id::from_i64(7),
            visibility: model::Visibility::Private,
            in_reply_to_account_id: Some(Id::from_i64(9)),
            mentions: vec![Id::from_i64(9)],
            tags: vec!["zürich".into()],
        },
    );
    sent.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
    bus.publish(&sent).await.unwrap();
    wait_for(&rec, 1).await;
    assert_eq!(rec.seen.lock().unwrap().as_slice(), std::slice::from_ref(&sent));
}

pub async fn run_all<B: Bus, F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = B>,
{
    delivers_only_wanted_kinds_to_each_consumer(&make().await).await;
    delivers_every_event_once(&make().await).await;
    events_arrive_intact(&make().await).await;
}

pub async fn delivers_only_wanted_kinds_to_each_consumer<B: Bus>(bus: &B) {
    let follows = Arc::new(Recorder::default());
    let posts = Arc::new(Recorder::default());
    bus.subscribe(Subscription::new("follows", &["follow.*"]), follows.clone()).await.unwrap();
    bus.subscribe(Subscription::new("posts", &["post.created"]), posts.clone()).await.unwrap();
    bus.publish(&follow(1)).await.unwrap();
    wait_for(&follows, 1).await;
    assert_eq!(follows.seen.lock().unwrap().len(), 1);
    assert!(posts.seen.lock().unwrap().is_empty());
}

/// Every published event reaches the consumer exactly once when nothing
/// fails. (Order is not promised: broker consumers handle several
/// deliveries at once, and handlers re-read state instead of relying on it.)
pub async fn delivers_every_event_once<B: Bus>(bus: &B) {
    let rec = Arc::new(Recorder::default());
    bus.subscribe(Subscription::new("ordered", &["follow.created"]), rec.clone()).await.unwrap();
    let sent: Vec<Envelope> = (1..=50).map(follow).collect();
    for e in &sent {
        bus.publish(e).await.unwrap();
    }
    wait_for(&rec, sent.len()).await;
    tokio::time::sleep(Duration::from_millis(100)).await; // room for a stray duplicate
    let mut got: Vec<String> = rec.seen.lock().unwrap().iter().map(|e| e.id.clone()).collect();
    let mut want: Vec<String> = sent.iter().map(|e| e.id.clone()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

/// A handler that always fails on one event must not stop the events after it.
pub async fn poison_event_is_dead_lettered<B: Bus>(bus: &B) {
    let rec = Arc::new(Recorder::default());
    let bad = follow(100);
    rec.poison.lock().unwrap().push(bad.id.clone());
    bus.subscribe(Subscription::new("poison-test", &["follow.created"]), rec.clone()).await.unwrap();
    let good = follow(200);
    bus.publish(&bad).await.unwrap();
    bus.publish(&good).await.unwrap();
    wait_for(&rec, 1).await;
    let seen = rec.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].id, good.id);
}
