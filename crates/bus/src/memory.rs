//! The in-process bus used all-in-one.
//!
//! Each consumer gets its own task and queue, so one slow consumer does not
//! hold up another's handler. `publish` waits until every interested consumer
//! has run its handler to completion (retrying failures with backoff), so a
//! row the outbox relay deletes after `publish` has really been handled. An
//! event that still fails after [`InProcessBus::DELIVERY_LIMIT`] attempts is
//! dead-lettered: logged with its id and kept in memory for inspection, and
//! the consumer moves on.

use crate::{Bus, BusError, Handler, Subscription};
use async_trait::async_trait;
use model::Envelope;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

type Delivery = (Envelope, oneshot::Sender<()>);

#[derive(Clone, Default)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    consumers: RwLock<Vec<(Subscription, mpsc::Sender<Delivery>)>>,
    dead_letters: Arc<Mutex<Vec<(String, Envelope)>>>,
}

impl InProcessBus {
    pub const DELIVERY_LIMIT: u32 = 5;
    const QUEUE_DEPTH: usize = 1024;

    pub fn new() -> Self {
        Self::default()
    }

    /// Events that exhausted their delivery limit, with the consumer that
    /// gave up on them.
    pub fn dead_letters(&self) -> Vec<(String, Envelope)> {
        self.inner.dead_letters.lock().expect("dead-letter lock poisoned").clone()
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, envelope: &Envelope) -> Result<(), BusError> {
        let targets: Vec<(String, mpsc::Sender<Delivery>)> = {
            let consumers = self.inner.consumers.read().expect("bus lock poisoned");
            consumers
                .iter()
                .filter(|(s, _)| s.wants(envelope.kind()))
                .map(|(s, tx)| (s.consumer.clone(), tx.clone()))
                .collect()
        };
        let mut acks = Vec::with_capacity(targets.len());
        for (consumer, tx) in targets {
            let (ack_tx, ack_rx) = oneshot::channel();
            tx.send((envelope.clone(), ack_tx))
                .await
                .map_err(|_| BusError::Unavailable(format!("consumer {consumer} has stopped")))?;
            acks.push((consumer, ack_rx));
        }
        for (consumer, ack) in acks {
            ack.await.map_err(|_| BusError::NotHandled {
                event_id: envelope.id.clone(),
                consumer,
                reason: "consumer stopped before finishing".into(),
            })?;
        }
        Ok(())
    }

    async fn subscribe(&self, subscription: Subscription, handler: Arc<dyn Handler>) -> Result<(), BusError> {
        let (tx, mut rx) = mpsc::channel::<Delivery>(Self::QUEUE_DEPTH);
        let consumer = subscription.consumer.clone();
        let dead_letters = self.inner.dead_letters.clone();
        tokio::spawn(async move {
            while let Some((envelope, ack)) = rx.recv().await {
                let mut attempt = 1;
                loop {
                    match trace::scope(envelope.traceparent.as_deref(), handler.handle(&envelope)).await {
                        Ok(()) => break,
                        Err(e) if attempt >= Self::DELIVERY_LIMIT => {
                            tracing::error!(consumer, event_id = %envelope.id, kind = envelope.kind(),
                                error = %format!("{e:#}"), "event dead-lettered after {attempt} attempts");
                            dead_letters
                                .lock()
                                .expect("dead-letter lock poisoned")
                                .push((consumer.clone(), envelope.clone()));
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(consumer, event_id = %envelope.id, attempt,
                                error = %format!("{e:#}"), "event handler failed; retrying");
                            tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                            attempt += 1;
                        }
                    }
                }
                let _ = ack.send(());
            }
        });
        self.inner.consumers.write().expect("bus lock poisoned").push((subscription, tx));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_bus_passes_the_contract() {
        crate::contract::run_all(|| async { InProcessBus::new() }).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_poison_event_is_dead_lettered_and_does_not_block_the_next() {
        let bus = InProcessBus::new();
        crate::contract::poison_event_is_dead_lettered(&bus).await;
        let dead = bus.dead_letters();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].0, "poison-test");
    }
}
