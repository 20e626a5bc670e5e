//! A declared component API end to end: the generated remote client and
//! dispatcher over real HTTP, and the read/write marking enforced by the
//! pool under a transport that injects faults.

use pool::{AttemptError, Backend, Pool, PoolSettings};
use rpc::{Api, CallError, CallKind, ComponentError, ErrorKind, RpcClient, Transport};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
enum CounterError {
    #[error("{0}")]
    Validation(String),
    #[error("counter unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Unexpected(String),
}

impl ComponentError for CounterError {
    fn kind(&self) -> ErrorKind {
        match self {
            CounterError::Validation(_) => ErrorKind::Validation,
            CounterError::Unavailable(_) => ErrorKind::Unavailable,
            CounterError::Unexpected(_) => ErrorKind::Unexpected,
        }
    }
    fn detail(&self) -> String {
        match self {
            CounterError::Unavailable(m) => m.clone(),
            other => other.to_string(),
        }
    }
    fn from_wire(kind: ErrorKind, detail: String) -> Self {
        match kind {
            ErrorKind::Validation => CounterError::Validation(detail),
            ErrorKind::Unavailable => CounterError::Unavailable(detail),
            _ => CounterError::Unexpected(detail),
        }
    }
}

#[rpc::component_api(component = "counter", remote = RemoteCounter, forward = ForwardCounter)]
trait CounterApi: Send + Sync + 'static {
    #[read(key = name)]
    async fn get(&self, name: &str) -> Result<u64, CounterError>;
    #[write]
    async fn add(&self, name: &str, by: u64) -> Result<u64, CounterError>;
    #[read]
    async fn sum(&self, names: &[String]) -> Result<u64, CounterError>;
}

#[derive(Default)]
struct Counter(Mutex<HashMap<String, u64>>);

#[async_trait::async_trait]
impl CounterApi for Counter {
    async fn get(&self, name: &str) -> Result<u64, CounterError> {
        Ok(self.0.lock().unwrap().get(name).copied().unwrap_or(0))
    }
    async fn add(&self, name: &str, by: u64) -> Result<u64, CounterError> {
        if by == 0 {
            return Err(CounterError::Validation("adding zero changes nothing".into()));
        }
        let mut m = self.0.lock().unwrap();
        let v = m.entry(name.to_string()).or_default();
        *v += by;
        Ok(*v)
    }
    async fn sum(&self, names: &[String]) -> Result<u64, CounterError> {
        let m = self.0.lock().unwrap();
        Ok(names.iter().map(|n| m.get(n).copied().unwrap_or(0)).sum())
    }
}

#[test]
fn the_method_table_follows_the_declaration() {
    let table: Vec<(&str, CallKind)> = <dyn CounterApi>::METHODS.iter().map(|m| (m.name, m.kind)).collect();
    assert_eq!(table, [("get", CallKind::Read), ("add", CallKind::Write), ("sum", CallKind::Read)]);
    assert_eq!(<dyn CounterApi>::COMPONENT, "counter");
}

#[tokio::test]
async fn the_generated_client_and_dispatcher_agree_over_http() {
    let served: Arc<dyn CounterApi> = Arc::new(Counter::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, rpc::router(served)).await });
    let settings = PoolSettings { health_interval_ms: 0, ..PoolSettings::default() };
    let remote: Arc<dyn CounterApi> =
        rpc::Api::remote(RpcClient::new("counter", &[addr.to_string()], settings).unwrap());

    assert_eq!(remote.add("a", 2).await.unwrap(), 2);
    assert_eq!(remote.add("b", 5).await.unwrap(), 5);
    assert_eq!(remote.get("a").await.unwrap(), 2);
    assert_eq!(remote.sum(&["a".into(), "b".into(), "c".into()]).await.unwrap(), 7);
    // A component's error crosses the wire as its kind and comes back as the same variant.
    match remote.add("a", 0).await {
        Err(CounterError::Validation(m)) => assert_eq!(m, "adding zero changes nothing"),
        other => panic!("expected the validation error, got {other:?}"),
    }
    // A method the server does not have is a clear error, not a hang or a 404 page.
    let client = RpcClient::new("counter", &[addr.to_string()], PoolSettings::default()).unwrap();
    let missing = rpc::Method { name: "reset", kind: CallKind::Write };
    match client.call::<_, u64>(&missing, None, &()).await {
        Err(CallError::Remote(e)) => {
            assert_eq!(e.kind, ErrorKind::BadRequest);
            assert!(e.message.contains("reset"), "{}", e.message);
        }
        other => panic!("expected a bad-request answer, got {other:?}"),
    }
}

/// A wrapper overriding one method; the rest forward.
struct Doubled(Arc<dyn CounterApi>);

#[async_trait::async_trait]
impl ForwardCounter for Doubled {
    fn forward_to(&self) -> &dyn CounterApi {
        &*self.0
    }
    async fn get(&self, name: &str) -> Result<u64, CounterError> {
        Ok(self.0.get(name).await? * 2)
    }
}

#[tokio::test]
async fn a_wrapper_writes_only_what_it_changes() {
    let wrapped: Arc<dyn CounterApi> = Arc::new(Doubled(Arc::new(Counter::default())));
    assert_eq!(wrapped.add("a", 3).await.unwrap(), 3);
    assert_eq!(wrapped.get("a").await.unwrap(), 6);
    assert_eq!(wrapped.sum(&["a".into()]).await.unwrap(), 3);
}

/// Fails every attempt the way it is told, counting attempts per method.
struct Faulty {
    sent: bool,
    attempts: Mutex<HashMap<String, usize>>,
}

impl Transport for Faulty {
    fn send<'a>(
        &'a self,
        _pool: &'a Pool,
        backend: Arc<Backend>,
        _component: &'a str,
        method: &'a str,
        _args: bytes::Bytes,
    ) -> futures::future::BoxFuture<'a, Result<bytes::Bytes, AttemptError<CallError>>> {
        *self.attempts.lock().unwrap().entry(method.to_string()).or_default() += 1;
        Box::pin(async move {
            if self.sent {
                Err(AttemptError::Failed(format!("{}: connection reset after the request was written", backend.addr)))
            } else {
                Err(AttemptError::NotSent(format!("{}: connection refused", backend.addr)))
            }
        })
    }
}

async fn attempts_under(sent: bool) -> HashMap<String, usize> {
    let transport = Arc::new(Faulty { sent, attempts: Mutex::default() });
    let settings = PoolSettings { health_interval_ms: 0, backoff_ms: 1, max_attempts: 3, ..PoolSettings::default() };
    let addrs: Vec<String> = (1..=3).map(|i| format!("10.0.0.{i}:80")).collect();
    let pool = Pool::new("counter", &addrs, settings).unwrap();
    let remote: Arc<dyn CounterApi> = rpc::Api::remote(RpcClient::with_transport("counter", pool, transport.clone()));
    assert!(matches!(remote.add("a", 1).await, Err(CounterError::Unavailable(_))));
    assert!(matches!(remote.get("a").await, Err(CounterError::Unavailable(_))));
    transport.attempts.lock().unwrap().clone()
}

#[tokio::test]
async fn a_write_that_may_have_been_sent_is_never_retried_and_a_read_is() {
    let attempts = attempts_under(true).await;
    assert_eq!(attempts["add"], 1, "a write that may have arrived was sent again");
    assert_eq!(attempts["get"], 3, "a read is retried on other instances");
}

#[tokio::test]
async fn a_write_that_never_left_moves_to_another_instance() {
    let attempts = attempts_under(false).await;
    assert_eq!(attempts["add"], 3, "a write refused before sending is safe to send elsewhere");
    assert_eq!(attempts["get"], 3);
}
