//! The event bus on RabbitMQ, for split mode.
//!
//! Topology (names derived from [`RabbitConfig`]):
//!
//! * one durable topic exchange (`aviary.events`); routing key = event type;
//! * per consumer a durable **quorum** queue `<prefix><consumer>` bound to
//!   the types it wants (`post.*` style patterns work as topic bindings);
//! * per consumer a retry queue `<queue>.retry` whose messages expire after
//!   `retry_delay` and are dead-lettered back onto the consumer's queue
//!   (delayed retries without a plugin), and a dead-letter queue
//!   `<queue>.dead` for events that exhausted `delivery_limit`.
//!
//! Publishing uses publisher confirms: [`Bus::publish`] returns only after
//! the broker has the message (persistent, on a quorum queue), which is what
//! lets the outbox relay delete its row. Consumers handle up to
//! `handler_concurrency` deliveries at once and ack each only after its
//! handler returned `Ok`, i.e. after its work is durable; a failure is
//! re-published to the retry queue with an attempt count (then acked), and
//! after the limit to the dead-letter queue. The quorum queue's own
//! `x-delivery-limit` catches the other kind of poison: a message whose
//! handler crashes the process before it can ack.
//!
//! Every connection loss is survived by reconnecting with backoff and
//! declaring the topology again (declarations are idempotent).

use crate::{Bus, BusError, Handler, Subscription};
use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use model::Envelope;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// `[bus]`: the event bus, in process (all-in-one) or RabbitMQ.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusSettings {
    /// `amqp://user:password@host:5672/vhost`. Empty: the in-process bus.
    pub amqp_url: Option<String>,
    pub exchange: String,
    pub queue_prefix: String,
    pub prefetch: u16,
    /// Events one process handles at once per consumer.
    pub handler_concurrency: usize,
    pub delivery_limit: u32,
    pub retry_delay_ms: u64,
}

impl Default for BusSettings {
    fn default() -> Self {
        let d = RabbitConfig::new("");
        BusSettings {
            amqp_url: None,
            exchange: d.exchange,
            queue_prefix: d.queue_prefix,
            prefetch: d.prefetch,
            handler_concurrency: d.handler_concurrency,
            delivery_limit: d.delivery_limit,
            retry_delay_ms: d.retry_delay.as_millis() as u64,
        }
    }
}

impl BusSettings {
    /// The broker's settings, when a broker is configured.
    pub fn rabbit(&self) -> Option<RabbitConfig> {
        let url = self.amqp_url.as_ref().filter(|u| !u.is_empty())?;
        Some(RabbitConfig {
            url: url.clone(),
            exchange: self.exchange.clone(),
            queue_prefix: self.queue_prefix.clone(),
            prefetch: self.prefetch,
            handler_concurrency: self.handler_concurrency,
            delivery_limit: self.delivery_limit,
            retry_delay: Duration::from_millis(self.retry_delay_ms),
        })
    }
}

#[derive(Debug, Clone)]
pub struct RabbitConfig {
    pub url: String,
    pub exchange: String,
    /// Prefix of every consumer queue name.
    pub queue_prefix: String,
    /// Unacknowledged deliveries in flight per consumer.
    pub prefetch: u16,
    /// Deliveries handled at once per consumer process.
    pub handler_concurrency: usize,
    /// Handler attempts before an event is dead-lettered.
    pub delivery_limit: u32,
    pub retry_delay: Duration,
}

impl RabbitConfig {
    pub fn new(url: &str) -> Self {
        RabbitConfig {
            url: url.to_string(),
            exchange: "aviary.events".into(),
            queue_prefix: "aviary.".into(),
            prefetch: 64,
            handler_concurrency: 16,
            delivery_limit: 5,
            retry_delay: Duration::from_secs(2),
        }
    }

    fn queue(&self, consumer: &str) -> String {
        format!("{}{consumer}", self.queue_prefix)
    }
}

const ATTEMPT_HEADER: &str = "x-aviary-attempt";
const TRACEPARENT_HEADER: &str = "traceparent";

pub struct RabbitBus {
    config: RabbitConfig,
    /// The publishing connection and its confirm-mode channel, replaced
    /// after a failure. A tokio mutex: held across the confirm await, which
    /// also keeps one publisher's events in order.
    publisher: Mutex<Option<(Connection, Channel)>>,
    /// Cancelled on drop, so consumer loops end with their bus.
    stop: CancellationToken,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(format!("RabbitMQ {what}: {e}"))
}

fn table(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

async fn connect(config: &RabbitConfig) -> Result<Connection, BusError> {
    Connection::connect(&config.url, ConnectionProperties::default())
        .await
        .map_err(|e| unavailable(&format!("connection to {}", config.url), e))
}

async fn declare_exchanges(ch: &Channel, config: &RabbitConfig) -> Result<(), BusError> {
    let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
    ch.exchange_declare(config.exchange.as_str().into(), ExchangeKind::Topic, durable, FieldTable::default())
        .await
        .map_err(|e| unavailable("exchange declare", e))
}

/// Declares a consumer's queues and bindings (idempotent).
async fn declare_consumer(ch: &Channel, config: &RabbitConfig, sub: &Subscription) -> Result<String, BusError> {
    declare_exchanges(ch, config).await?;
    let q = config.queue(&sub.consumer);
    let durable = QueueDeclareOptions { durable: true, ..Default::default() };
    let dead = format!("{q}.dead");
    let retry = format!("{q}.retry");
    ch.queue_declare(dead.as_str().into(), durable, table(&[("x-queue-type", text("quorum"))]))
        .await
        .map_err(|e| unavailable("queue declare", e))?;
    ch.queue_declare(
        q.as_str().into(),
        durable,
        table(&[
            ("x-queue-type", text("quorum")),
            ("x-delivery-limit", AMQPValue::LongInt(config.delivery_limit as i32 * 2)),
            ("x-dead-letter-exchange", text("")),
            ("x-dead-letter-routing-key", text(&dead)),
        ]),
    )
    .await
    .map_err(|e| unavailable("queue declare", e))?;
    ch.queue_declare(
        retry.as_str().into(),
        durable,
        table(&[
            ("x-message-ttl", AMQPValue::LongInt(config.retry_delay.as_millis() as i32)),
            ("x-dead-letter-exchange", text("")),
            ("x-dead-letter-routing-key", text(&q)),
        ]),
    )
    .await
    .map_err(|e| unavailable("queue declare", e))?;
    for kind in &sub.kinds {
        ch.queue_bind(
            q.as_str().into(),
            config.exchange.as_str().into(),
            (*kind).into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("queue bind", e))?;
    }
    Ok(q)
}

fn properties(envelope: &Envelope, attempt: u32) -> BasicProperties {
    let mut headers = vec![(ATTEMPT_HEADER, AMQPValue::LongUInt(attempt))];
    if let Some(tp) = &envelope.traceparent {
        headers.push((TRACEPARENT_HEADER, text(tp)));
    }
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(envelope.id.as_str().into())
        .with_headers(table(&headers))
}

fn attempt_of(props: &BasicProperties) -> u32 {
    props
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPT_HEADER).cloned())
        .and_then(|v| match v {
            AMQPValue::LongUInt(n) => Some(n),
            AMQPValue::LongInt(n) => Some(n.max(0) as u32),
            AMQPValue::LongLongInt(n) => Some(n.max(0) as u32),
            _ => None,
        })
        .unwrap_or(1)
}

async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
    props: BasicProperties,
) -> Result<(), BusError> {
    let confirm = ch
        .basic_publish(exchange.into(), routing_key.into(), BasicPublishOptions::default(), payload, props)
        .await
        .map_err(|e| unavailable("publish", e))?
        .await
        .map_err(|e| unavailable("publish confirm", e))?;
    match confirm {
        Confirmation::Ack(_) => Ok(()),
        other => Err(BusError::Unavailable(format!("RabbitMQ did not confirm the publish: {other:?}"))),
    }
}

impl RabbitBus {
    /// Connects once to check the broker and declares the exchange; fails
    /// with a message naming the URL if RabbitMQ cannot be reached.
    pub async fn connect(config: RabbitConfig) -> Result<Self, BusError> {
        let bus = RabbitBus { config, publisher: Mutex::new(None), stop: Default::default() };
        let mut guard = bus.publisher.lock().await;
        *guard = Some(bus.open_publisher().await?);
        drop(guard);
        Ok(bus)
    }

    async fn open_publisher(&self) -> Result<(Connection, Channel), BusError> {
        let conn = connect(&self.config).await?;
        let ch = conn.create_channel().await.map_err(|e| unavailable("channel", e))?;
        ch.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| unavailable("confirm mode", e))?;
        declare_exchanges(&ch, &self.config).await?;
        Ok((conn, ch))
    }

    /// Events that exhausted their delivery limit for `consumer`, drained
    /// from its dead-letter queue (for operators and tests).
    pub async fn take_dead_letters(&self, consumer: &str) -> Result<Vec<Envelope>, BusError> {
        let conn = connect(&self.config).await?;
        let ch = conn.create_channel().await.map_err(|e| unavailable("channel", e))?;
        let queue = format!("{}.dead", self.config.queue(consumer));
        let mut out = Vec::new();
        while let Some(msg) = ch
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .map_err(|e| unavailable("basic.get", e))?
        {
            if let Ok(env) = serde_json::from_slice(&msg.delivery.data) {
                out.push(env);
            }
        }
        let _ = conn.close(200, "done".into()).await;
        Ok(out)
    }

    /// Deletes the exchange and the given consumers' queues (tests use
    /// unique names and clean up after themselves).
    pub async fn delete_topology(&self, consumers: &[&str]) -> Result<(), BusError> {
        let conn = connect(&self.config).await?;
        let ch = conn.create_channel().await.map_err(|e| unavailable("channel", e))?;
        for c in consumers {
            let q = self.config.queue(c);
            for name in [q.clone(), format!("{q}.retry"), format!("{q}.dead")] {
                let _ = ch.queue_delete(name.as_str().into(), QueueDeleteOptions::default()).await;
            }
        }
        let _ = ch.exchange_delete(self.config.exchange.as_str().into(), ExchangeDeleteOptions::default()).await;
        let _ = conn.close(200, "done".into()).await;
        Ok(())
    }
}

impl Drop for RabbitBus {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[async_trait]
impl Bus for RabbitBus {
    async fn publish(&self, envelope: &Envelope) -> Result<(), BusError> {
        let payload = serde_json::to_vec(envelope).expect("an envelope always serialises");
        let mut guard = self.publisher.lock().await;
        // One retry on a fresh connection: enough to ride over a broker
        // restart or a dropped socket; the outbox relay retries beyond that.
        for attempt in 0..2 {
            if guard.is_none() {
                match self.open_publisher().await {
                    Ok(p) => *guard = Some(p),
                    Err(e) if attempt == 1 => return Err(e),
                    Err(_) => continue,
                }
            }
            let (_, ch) = guard.as_ref().expect("set just above");
            match publish_confirmed(ch, &self.config.exchange, envelope.kind(), &payload, properties(envelope, 1)).await
            {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "publish failed; reconnecting");
                    *guard = None;
                    if attempt == 1 {
                        return Err(e);
                    }
                }
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    async fn subscribe(&self, subscription: Subscription, handler: Arc<dyn Handler>) -> Result<(), BusError> {
        // Declare now, so events published right after `subscribe` returns
        // are already routed to the queue.
        let conn = connect(&self.config).await?;
        let ch = conn.create_channel().await.map_err(|e| unavailable("channel", e))?;
        declare_consumer(&ch, &self.config, &subscription).await?;
        let config = self.config.clone();
        let stop = self.stop.clone();
        tokio::spawn(async move {
            let mut first = Some((conn, ch));
            let mut backoff = Duration::from_millis(200);
            while !stop.is_cancelled() {
                let session = match first.take() {
                    Some(s) => Ok(s),
                    None => open_consumer(&config, &subscription).await,
                };
                match session {
                    Ok((conn, ch)) => {
                        backoff = Duration::from_millis(200);
                        if let Err(e) = consume(&ch, &config, &subscription, &handler, &stop).await {
                            tracing::warn!(consumer = %subscription.consumer, error = %e, "consumer interrupted; reconnecting");
                        }
                        let _ = conn.close(200, "reconnecting".into()).await;
                    }
                    Err(e) => {
                        tracing::warn!(consumer = %subscription.consumer, error = %e, "cannot reach RabbitMQ; retrying");
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            tracing::info!(consumer = %subscription.consumer, "consumer stopped with its bus");
        });
        Ok(())
    }
}

async fn open_consumer(config: &RabbitConfig, sub: &Subscription) -> Result<(Connection, Channel), BusError> {
    let conn = connect(config).await?;
    let ch = conn.create_channel().await.map_err(|e| unavailable("channel", e))?;
    declare_consumer(&ch, config, sub).await?;
    Ok((conn, ch))
}

/// Consumes until the channel fails or the bus stops. Up to
/// `handler_concurrency` deliveries are handled at once (each acked when
/// its own handler is done), so handlers must not rely on the order of
/// events — ours re-read the current state instead.
async fn consume(
    ch: &Channel,
    config: &RabbitConfig,
    sub: &Subscription,
    handler: &Arc<dyn Handler>,
    stop: &CancellationToken,
) -> Result<(), BusError> {
    let queue = config.queue(&sub.consumer);
    ch.basic_qos(config.prefetch, BasicQosOptions::default()).await.map_err(|e| unavailable("qos", e))?;
    ch.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| unavailable("confirm mode", e))?;
    let mut deliveries = ch
        .basic_consume(
            queue.as_str().into(),
            format!("{}-{}", sub.consumer, std::process::id()).as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("consume", e))?;
    let slots = Arc::new(Semaphore::new(config.handler_concurrency.max(1)));
    let mut in_flight: JoinSet<Result<(), BusError>> = JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            Some(done) = in_flight.join_next() => {
                done.map_err(|e| unavailable("handler task", e))??;
                continue;
            }
            _ = stop.cancelled() => return Ok(()),
        };
        let next = tokio::select! {
            d = deliveries.next() => d,
            Some(done) = in_flight.join_next() => {
                done.map_err(|e| unavailable("handler task", e))??;
                continue;
            }
            _ = stop.cancelled() => return Ok(()),
        };
        let Some(delivery) = next else { return Err(unavailable("consumer", "cancelled by the broker")) };
        let delivery = delivery.map_err(|e| unavailable("delivery", e))?;
        let (ch, config, consumer, queue, handler) =
            (ch.clone(), config.clone(), sub.consumer.clone(), queue.clone(), handler.clone());
        in_flight.spawn(async move {
            let _permit = permit;
            handle_delivery(&ch, &config, &consumer, &queue, handler.as_ref(), delivery).await
        });
    }
}

/// Runs the handler on one delivery, re-publishes it for a retry (or to
/// the dead-letter queue) if that failed, then acks it.
async fn handle_delivery(
    ch: &Channel,
    config: &RabbitConfig,
    consumer: &str,
    queue: &str,
    handler: &dyn Handler,
    delivery: lapin::message::Delivery,
) -> Result<(), BusError> {
    let attempt = attempt_of(&delivery.properties);
    let outcome = match serde_json::from_slice::<Envelope>(&delivery.data) {
        Ok(env) => trace::scope(env.traceparent.as_deref(), handler.handle(&env)).await.map_err(|e| format!("{e:#}")),
        Err(e) => Err(format!("unreadable event: {e}")),
    };
    if let Err(reason) = outcome {
        // Re-publish (confirmed) before acking, so the event is never only
        // in memory: to the retry queue, or past the limit to the
        // dead-letter queue.
        let (target, next_attempt) = if attempt >= config.delivery_limit {
            tracing::error!(consumer, attempt, reason, "event dead-lettered");
            (format!("{queue}.dead"), attempt)
        } else {
            tracing::warn!(consumer, attempt, reason, "event handler failed; will retry");
            (format!("{queue}.retry"), attempt + 1)
        };
        let mut props = delivery.properties.clone();
        let mut headers = props.headers().clone().unwrap_or_default();
        headers.insert(ATTEMPT_HEADER.into(), AMQPValue::LongUInt(next_attempt));
        props = props.with_headers(headers);
        publish_confirmed(ch, "", &target, &delivery.data, props).await?;
    }
    delivery.ack(BasicAckOptions::default()).await.map_err(|e| unavailable("ack", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

    fn unique_config() -> RabbitConfig {
        let id = uuid::Uuid::new_v4().simple().to_string();
        RabbitConfig {
            exchange: format!("test.{id}.events"),
            queue_prefix: format!("test.{id}."),
            retry_delay: Duration::from_millis(50),
            delivery_limit: 3,
            ..RabbitConfig::new(URL)
        }
    }

    const CONSUMERS: &[&str] = &["follows", "posts", "ordered", "intact", "poison-test"];

    #[tokio::test]
    async fn rabbit_bus_passes_the_contract() {
        let configs = std::sync::Mutex::new(Vec::new());
        crate::contract::run_all(|| {
            let c = unique_config();
            configs.lock().unwrap().push(c.clone());
            async move { RabbitBus::connect(c).await.expect("RabbitMQ answers on 127.0.0.1:5672 (.ci/run starts it)") }
        })
        .await;
        for c in configs.into_inner().unwrap() {
            RabbitBus::connect(c).await.unwrap().delete_topology(CONSUMERS).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_poison_event_ends_in_the_dead_letter_queue_after_the_limit() {
        let bus = RabbitBus::connect(unique_config()).await.unwrap();
        crate::contract::poison_event_is_dead_lettered(&bus).await;
        let mut dead = Vec::new();
        for _ in 0..100 {
            dead.extend(bus.take_dead_letters("poison-test").await.unwrap());
            if !dead.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(dead.len(), 1, "exactly the poison event is dead-lettered");
        bus.delete_topology(CONSUMERS).await.unwrap();
    }
}
