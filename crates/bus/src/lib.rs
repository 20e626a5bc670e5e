//! The event bus port: publish an [`Envelope`], subscribe a [`Handler`] under
//! a consumer name to the event types it needs.
//!
//! Delivery is at least once. `publish` returns only when the bus has taken
//! responsibility for the event (for the in-process bus: every subscribed
//! handler has finished with it; for a broker: the publisher confirm), which
//! is what lets the outbox relay delete a row safely. Handlers must therefore
//! be idempotent.
//!
//! [`InProcessBus`] is the all-in-one adapter; the RabbitMQ adapter will
//! implement the same trait and pass the same `contract` suite (feature `contract`).
#![forbid(unsafe_code)]

/// The contract every adapter passes, for the adapters' tests (feature
/// `contract`); not part of the production library.
#[cfg(any(test, feature = "contract"))]
pub mod contract;
mod memory;
mod rabbit;

pub use memory::InProcessBus;
pub use rabbit::{BusSettings, RabbitBus, RabbitConfig};

use async_trait::async_trait;
use model::Envelope;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    #[error("event {event_id} was not handled by consumer {consumer}: {reason}")]
    NotHandled { event_id: String, consumer: String, reason: String },
}

/// Work done for one delivered event. An `Err` asks the bus to redeliver
/// later; after the delivery limit the event is dead-lettered.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, envelope: &Envelope) -> anyhow::Result<()>;
}

/// A consumer's name (one queue per consumer) and the event types it wants.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub consumer: String,
    pub kinds: Vec<&'static str>,
}

impl Subscription {
    pub fn new(consumer: &str, kinds: &[&'static str]) -> Self {
        Subscription { consumer: consumer.to_string(), kinds: kinds.to_vec() }
    }
    pub fn wants(&self, kind: &str) -> bool {
        self.kinds.iter().any(|k| {
            *k == kind || k.strip_suffix(".*").is_some_and(|p| kind.starts_with(p) && kind[p.len()..].starts_with('.'))
        })
    }
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    async fn publish(&self, envelope: &Envelope) -> Result<(), BusError>;
    async fn subscribe(&self, subscription: Subscription, handler: Arc<dyn Handler>) -> Result<(), BusError>;
}
