//! The client-side pool against real HTTP servers on loopback: how each
//! policy spreads calls, and how failing, hung, slow and draining
//! instances are routed around.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use pool::{Breaker, Policy, Pool, PoolSettings};
use rpc::{CallError, CallKind, ErrorKind, Method, RpcClient, WireError};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Behaviour {
    hits: AtomicUsize,
    delay_ms: AtomicU64,
    /// Answer every call with an "unavailable" error.
    failing: AtomicBool,
    draining: AtomicBool,
}

struct TestBackend {
    name: String,
    addr: SocketAddr,
    behaviour: Arc<Behaviour>,
    stop: CancellationToken,
}

impl TestBackend {
    async fn start(name: &str) -> TestBackend {
        Self::start_on(name, "127.0.0.1:0".parse().unwrap(), Arc::default()).await
    }

    async fn start_on(name: &str, addr: SocketAddr, behaviour: Arc<Behaviour>) -> TestBackend {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let state = (name.to_string(), behaviour.clone());
        let app = Router::new()
            .route("/internal/test/{method}", post(answer))
            .route("/healthz", get(health))
            .with_state(state);
        let s = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app).with_graceful_shutdown(async move { s.cancelled().await }).await.unwrap();
        });
        TestBackend { name: name.to_string(), addr, behaviour, stop }
    }

    fn hits(&self) -> usize {
        self.behaviour.hits.load(Ordering::SeqCst)
    }
}

impl Drop for TestBackend {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

type BackendState = (String, Arc<Behaviour>);

async fn answer(State((name, b)): State<BackendState>, Path(_method): Path<String>) -> axum::response::Response {
    b.hits.fetch_add(1, Ordering::SeqCst);
    let delay = b.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut resp = if b.failing.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(WireError::new(ErrorKind::Unavailable, "database down")))
            .into_response()
    } else {
        axum::Json(name).into_response()
    };
    if b.draining.load(Ordering::SeqCst) {
        resp.headers_mut().insert(pool::DRAINING_HEADER, "1".parse().unwrap());
    }
    resp
}

async fn health(State((_, b)): State<BackendState>) -> StatusCode {
    if b.draining.load(Ordering::SeqCst) { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK }
}

fn settings(policy: Policy) -> PoolSettings {
    PoolSettings {
        policy,
        health_interval_ms: 100,
        health_timeout_ms: 200,
        eject_base_ms: 200,
        eject_max_ms: 1_000,
        ..PoolSettings::default()
    }
}

fn client(backends: &[&TestBackend], s: PoolSettings) -> RpcClient {
    RpcClient::new("test", &backends.iter().map(|b| b.addr.to_string()).collect::<Vec<_>>(), s).unwrap()
}

async fn read(c: &RpcClient) -> Result<String, CallError> {
    c.call(&Method { name: "who", kind: CallKind::Read }, None, &()).await
}

#[tokio::test]
async fn round_robin_gives_each_instance_the_same_share() {
    let (a, b, c) = (TestBackend::start("a").await, TestBackend::start("b").await, TestBackend::start("c").await);
    let rpc = client(&[&a, &b, &c], settings(Policy::RoundRobin));
    for _ in 0..300 {
        read(&rpc).await.unwrap();
    }
    assert_eq!([a.hits(), b.hits(), c.hits()], [100, 100, 100]);
}

#[tokio::test]
async fn weighted_round_robin_follows_the_weights_and_interleaves() {
    let (a, b, c) = (TestBackend::start("a").await, TestBackend::start("b").await, TestBackend::start("c").await);
    let targets = vec![format!("{} weight=3", a.addr), b.addr.to_string(), c.addr.to_string()];
    let rpc = RpcClient::new("test", &targets, settings(Policy::WeightedRoundRobin)).unwrap();
    let mut order = Vec::new();
    for _ in 0..250 {
        order.push(read(&rpc).await.unwrap());
    }
    assert_eq!([a.hits(), b.hits(), c.hits()], [150, 50, 50]);
    // Smooth: the heavy instance never gets more than its weight in a row.
    let longest = order.chunk_by(|x, y| x == y).map(<[String]>::len).max().unwrap();
    assert!(longest <= 2, "a run of {longest} calls to one instance: {:?}", &order[..10]);
}

#[tokio::test]
async fn consistent_hashing_is_sticky_balanced_and_moves_only_the_leavers_keys() {
    let addrs: Vec<String> = (1..=3).map(|i| format!("10.0.0.{i}:80")).collect();
    let three = Pool::new("test", &addrs, settings(Policy::ConsistentHash)).unwrap();
    let two = Pool::new("test", &addrs[..2], settings(Policy::ConsistentHash)).unwrap();
    let keys: Vec<String> = (0..3_000).map(|i| (384_000_000_000_000_000u64 + i * 7_919).to_string()).collect();
    let place = |p: &Pool, k: &str| p.pick(Some(k), &[]).unwrap().addr.clone();
    let before: HashMap<&str, String> = keys.iter().map(|k| (k.as_str(), place(&three, k))).collect();
    for k in &keys[..200] {
        assert_eq!(place(&three, k), before[k.as_str()], "key {k} moved while the set was stable");
    }
    let mut share: HashMap<&str, usize> = HashMap::new();
    for a in before.values() {
        *share.entry(a).or_default() += 1;
    }
    for (a, n) in &share {
        assert!((800..=1_200).contains(n), "{a} holds {n} of 3000 keys: {share:?}");
    }
    let mut moved = 0;
    for k in &keys {
        let now = place(&two, k);
        if before[k.as_str()] == addrs[2] {
            moved += 1;
        } else {
            assert_eq!(now, before[k.as_str()], "key {k} moved although its instance stayed");
        }
    }
    assert_eq!(moved, share[addrs[2].as_str()]);
}

#[tokio::test]
async fn least_outstanding_steers_away_from_a_slow_instance() {
    let (a, b, c) = (TestBackend::start("a").await, TestBackend::start("b").await, TestBackend::start("c").await);
    c.behaviour.delay_ms.store(100, Ordering::SeqCst);
    a.behaviour.delay_ms.store(2, Ordering::SeqCst);
    b.behaviour.delay_ms.store(2, Ordering::SeqCst);
    let rpc = client(&[&a, &b, &c], settings(Policy::LeastOutstanding));
    let workers: Vec<_> = (0..12)
        .map(|_| {
            let rpc = rpc.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    read(&rpc).await.unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let total = (a.hits() + b.hits() + c.hits()) as f64;
    let slow_share = c.hits() as f64 / total;
    assert!(slow_share < 0.12, "the slow instance got {:.0}% ({} of {total})", slow_share * 100.0, c.hits());
    // Round-robin, for contrast, gives it a third whatever its speed.
}

#[tokio::test]
async fn a_stopped_instance_is_routed_around_and_readmitted_when_it_returns() {
    let (a, b) = (TestBackend::start("a").await, TestBackend::start("b").await);
    let c = TestBackend::start("c").await;
    let (c_addr, c_behaviour) = (c.addr, c.behaviour.clone());
    let rpc = client(&[&a, &b, &c], settings(Policy::RoundRobin));
    for _ in 0..30 {
        read(&rpc).await.unwrap();
    }
    drop(c);
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 0..200 {
        read(&rpc).await.unwrap_or_else(|e| panic!("call {i} failed while one of three was stopped: {e}"));
    }
    let c_entry = rpc.pool().backends().into_iter().find(|b| b.addr == c_addr.to_string()).unwrap();
    assert!(c_entry.is_down() || matches!(c_entry.breaker(), Breaker::Open { .. }));

    let hits_before = c_behaviour.hits.load(Ordering::SeqCst);
    let c = TestBackend::start_on("c", c_addr, c_behaviour).await;
    let back = Instant::now();
    while c.hits() == hits_before {
        assert!(back.elapsed() < Duration::from_secs(5), "the restarted instance got no traffic in 5 s");
        read(&rpc).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_hung_instance_costs_at_most_one_attempt_timeout_and_is_ejected() {
    let (a, b) = (TestBackend::start("a").await, TestBackend::start("b").await);
    // Accepts connections (the kernel does) and never answers: a stopped process.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung_addr = hung.local_addr().unwrap();
    let targets = vec![a.addr.to_string(), b.addr.to_string(), hung_addr.to_string()];
    let s = PoolSettings { attempt_timeout_ms: 300, call_timeout_ms: 2_000, ..settings(Policy::RoundRobin) };
    let rpc = RpcClient::new("test", &targets, s).unwrap();
    let mut slowest = Duration::ZERO;
    for _ in 0..60 {
        let t = Instant::now();
        read(&rpc).await.unwrap();
        slowest = slowest.max(t.elapsed());
    }
    assert!(slowest < Duration::from_millis(800), "a call took {slowest:?}");
    let entry = rpc.pool().backends().into_iter().find(|b| b.addr == hung_addr.to_string()).unwrap();
    assert!(entry.is_down() || matches!(entry.breaker(), Breaker::Open { .. } | Breaker::HalfOpen { .. }));
    assert!(a.hits() + b.hits() >= 60);
    drop(hung);
}

#[tokio::test]
async fn retries_stay_within_the_budget_and_writes_are_not_repeated() {
    let (a, b, c) = (TestBackend::start("a").await, TestBackend::start("b").await, TestBackend::start("c").await);
    for x in [&a, &b, &c] {
        x.behaviour.failing.store(true, Ordering::SeqCst);
    }
    let s = PoolSettings {
        retry_min_per_sec: 0,
        retry_ratio: 0.2,
        eject_after_failures: 1_000,
        backoff_ms: 1,
        ..settings(Policy::RoundRobin)
    };
    let rpc = client(&[&a, &b, &c], s);
    for _ in 0..200 {
        assert!(matches!(read(&rpc).await, Err(CallError::Unavailable(_))));
    }
    let attempts = a.hits() + b.hits() + c.hits();
    // Without a budget three attempts each would be 600.
    assert!((200..=250).contains(&attempts), "{attempts} attempts for 200 reads");

    let before = a.hits() + b.hits() + c.hits();
    for _ in 0..20 {
        let r: Result<String, CallError> = rpc.call(&Method { name: "change", kind: CallKind::Write }, None, &()).await;
        assert!(r.is_err());
    }
    assert_eq!(a.hits() + b.hits() + c.hits() - before, 20, "a write that arrived was sent again");
}

#[tokio::test]
async fn a_draining_instance_gets_no_new_requests() {
    let (a, b) = (TestBackend::start("a").await, TestBackend::start("b").await);
    let rpc = client(&[&a, &b], settings(Policy::RoundRobin));
    b.behaviour.draining.store(true, Ordering::SeqCst);
    for _ in 0..20 {
        read(&rpc).await.unwrap();
    }
    // At most the one request that carried the news.
    assert!(b.hits() <= 1, "draining instance got {} requests", b.hits());
    assert_eq!(a.hits() + b.hits(), 20);
}

#[tokio::test]
async fn dns_names_are_resolved_to_every_address() {
    let a = TestBackend::start("a").await;
    let rpc = RpcClient::new("test", &[format!("localhost:{}", a.addr.port())], settings(Policy::RoundRobin)).unwrap();
    assert_eq!(read(&rpc).await.unwrap(), a.name);
    let addrs: Vec<String> = rpc.pool().backends().iter().map(|b| b.addr.clone()).collect();
    assert!(addrs.contains(&a.addr.to_string()), "localhost resolved to {addrs:?}");
}
