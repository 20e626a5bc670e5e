//! Client-side load balancing, shared by every caller of a component (the
//! gateway and component → component calls) and by the gateway's
//! pass-through routes.
//!
//! A [`Pool`] holds the instances of one component. It finds them from a
//! list of `host:port` targets: IP literals are used as they are, names are
//! re-resolved every `resolve_interval_ms` and every address they yield is
//! an instance (what a Kubernetes headless service gives). The set is
//! swapped atomically (`ArcSwap`), and an instance that stays in the set
//! keeps its health history.
//!
//! Each call picks an instance by the configured [`Policy`], skipping those
//! that are ejected (circuit breaker open after consecutive failures, with
//! exponential backoff and a single trial request before readmission),
//! down (failed the last active `/healthz` check) or draining (said so
//! while shutting down). When every instance is unavailable the pool tries
//! them anyway rather than refusing outright ("panic mode", as Envoy does).
//!
//! [`Pool::execute`] runs one call with a deadline: each attempt has its own
//! timeout, failed attempts are retried on another instance with jittered
//! exponential backoff — always when the request provably never reached the
//! instance (connection refused), otherwise only for idempotent calls and
//! only while the retry budget (tower's `TpsBudget`: retries at most
//! `retry_ratio` of recent requests) allows, so retries cannot multiply
//! the load on a struggling component.

mod backend;
mod policy;

pub use backend::{Backend, Breaker, EjectPolicy};
pub use policy::Policy;

use arc_swap::ArcSwap;
use backend::InFlight;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::time::Instant;
use tower::retry::budget::{Budget, TpsBudget};

/// Response header with which an instance that is shutting down tells its
/// callers to stop sending it new requests.
pub const DRAINING_HEADER: &str = "aviary-draining";

/// How callers balance and protect calls to a component. Durations in
/// milliseconds so the struct reads the same in TOML.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PoolSettings {
    pub policy: Policy,
    /// Upper bound for one attempt on one instance.
    pub attempt_timeout_ms: u64,
    /// Upper bound for the whole call, retries included.
    pub call_timeout_ms: u64,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Retries allowed as a fraction of recent requests (0.2 = 20 % extra load).
    pub retry_ratio: f32,
    /// Retries per second always allowed, so a quiet pool can still retry.
    pub retry_min_per_sec: u32,
    /// First retry waits a random time up to this, doubling per retry.
    pub backoff_ms: u64,
    /// Active health checks: `GET health_path` on every instance this often (0 = off).
    pub health_interval_ms: u64,
    pub health_timeout_ms: u64,
    pub health_path: String,
    /// Consecutive failed requests that eject an instance.
    pub eject_after_failures: u32,
    /// Ejection time after the first ejection; doubles per repeated ejection up to the max.
    pub eject_base_ms: u64,
    pub eject_max_ms: u64,
    /// How often DNS names among the targets are resolved again.
    pub resolve_interval_ms: u64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            policy: Policy::LeastOutstanding,
            attempt_timeout_ms: 2_000,
            call_timeout_ms: 5_000,
            max_attempts: 3,
            retry_ratio: 0.2,
            retry_min_per_sec: 10,
            backoff_ms: 10,
            health_interval_ms: 1_000,
            health_timeout_ms: 500,
            health_path: "/healthz".into(),
            eject_after_failures: 3,
            eject_base_ms: 1_000,
            eject_max_ms: 30_000,
            resolve_interval_ms: 5_000,
        }
    }
}

impl PoolSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.attempt_timeout_ms == 0 || self.call_timeout_ms == 0 {
            return Err("attempt_timeout_ms and call_timeout_ms must be positive".into());
        }
        if self.max_attempts == 0 {
            return Err("max_attempts must be at least 1".into());
        }
        if !(0.0..=1000.0).contains(&self.retry_ratio) {
            return Err("retry_ratio must be between 0 and 1000".into());
        }
        if self.eject_after_failures == 0 {
            return Err("eject_after_failures must be at least 1".into());
        }
        if !self.health_path.starts_with('/') {
            return Err(format!("health_path must start with '/', not {:?}", self.health_path));
        }
        Ok(())
    }

    fn eject_policy(&self) -> EjectPolicy {
        EjectPolicy {
            after_failures: self.eject_after_failures,
            base: Duration::from_millis(self.eject_base_ms),
            max: Duration::from_millis(self.eject_max_ms.max(self.eject_base_ms)),
        }
    }
}

/// A configured target: `host:port`, optionally followed by ` weight=N`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    weight: u32,
}

impl Target {
    fn parse(spec: &str) -> Result<Target, String> {
        let mut parts = spec.split_whitespace();
        let addr = parts.next().ok_or("empty target")?;
        let addr = addr.strip_prefix("http://").unwrap_or(addr).trim_end_matches('/');
        let mut weight = 1;
        for p in parts {
            match p.strip_prefix("weight=").map(str::parse::<u32>) {
                Some(Ok(w)) if w > 0 => weight = w,
                _ => return Err(format!("{spec:?}: expected `host:port` then optionally `weight=N` (N ≥ 1)")),
            }
        }
        let (host, port) = addr.rsplit_once(':').ok_or_else(|| format!("{spec:?}: expected host:port"))?;
        let port = port.parse().map_err(|_| format!("{spec:?}: {port:?} is not a port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        if host.is_empty() {
            return Err(format!("{spec:?}: no host"));
        }
        Ok(Target { host, port, weight })
    }

    fn literal(&self) -> Option<SocketAddr> {
        self.host.parse::<std::net::IpAddr>().ok().map(|ip| SocketAddr::new(ip, self.port))
    }
}

/// Validates target specs (for config checks) without resolving them.
pub fn parse_targets(specs: &[String]) -> Result<(), String> {
    specs.iter().try_for_each(|s| Target::parse(s).map(|_| ()))
}

/// The backends at one moment, with what the policies precompute over them.
pub(crate) struct BackendSet {
    pub backends: Vec<Arc<Backend>>,
    pub ring: Vec<(u64, usize)>,
}

impl BackendSet {
    fn new(backends: Vec<Arc<Backend>>) -> Self {
        let ring = policy::build_ring(&backends);
        BackendSet { backends, ring }
    }
}

/// Why one attempt failed, as the transport saw it.
#[derive(Debug)]
pub enum AttemptError<E> {
    /// The request never reached the instance (connect failed): safe to
    /// send elsewhere whatever the call does.
    NotSent(String),
    /// The request may have been processed (timeout, reset, overloaded or
    /// failing instance): retried only when idempotent.
    Failed(String),
    /// The instance is healthy and answered an error that belongs to the
    /// caller (validation, not found): returned as it is, never retried.
    Answer(E),
}

/// Why a call failed after all attempts.
#[derive(Debug)]
pub enum ExecuteError<E> {
    Answer(E),
    Unavailable(String),
}

pub(crate) struct Inner {
    component: String,
    settings: PoolSettings,
    eject: EjectPolicy,
    targets: Vec<Target>,
    set: ArcSwap<BackendSet>,
    rr: AtomicUsize,
    wrr: Mutex<()>,
    budget: TpsBudget,
    http: reqwest::Client,
}

/// The instances of one component and how calls are spread over them.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl Pool {
    /// Builds the pool and starts its health checks and re-resolution (they
    /// stop when the last clone of the pool is dropped). Must be called
    /// inside a Tokio runtime.
    pub fn new(component: &str, targets: &[String], settings: PoolSettings) -> Result<Pool, String> {
        settings.validate()?;
        if targets.is_empty() {
            return Err(format!("a pool for {component} needs at least one address"));
        }
        let targets = targets.iter().map(|s| Target::parse(s)).collect::<Result<Vec<_>, _>>()?;
        // Literal addresses are known now; names are resolved by the first
        // call or the background task, whichever comes first.
        // Kept sorted by address, as re-resolution produces them, so the
        // first re-resolution finds the same set and swaps nothing.
        let mut literal: Vec<(String, u32)> =
            targets.iter().filter_map(|t| t.literal().map(|a| (a.to_string(), t.weight))).collect();
        literal.sort();
        literal.dedup_by(|a, b| a.0 == b.0);
        let backends = literal.into_iter().map(|(a, w)| Arc::new(Backend::new(a, w))).collect();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(settings.health_timeout_ms.max(100)))
            .build()
            .expect("an HTTP client with static settings builds");
        let inner = Arc::new(Inner {
            component: component.to_string(),
            eject: settings.eject_policy(),
            budget: TpsBudget::new(Duration::from_secs(10), settings.retry_min_per_sec, settings.retry_ratio),
            settings,
            targets,
            set: ArcSwap::from_pointee(BackendSet::new(backends)),
            rr: AtomicUsize::new(0),
            wrr: Mutex::new(()),
            http,
        });
        tokio::spawn(background(Arc::downgrade(&inner)));
        Ok(Pool { inner })
    }

    /// The current instances (for tests, diagnostics and metrics).
    pub fn backends(&self) -> Vec<Arc<Backend>> {
        self.inner.set.load().backends.clone()
    }

    /// Picks an instance for a request with an optional affinity key,
    /// avoiding those in `tried`. `None` only when the set is empty.
    pub fn pick(&self, key: Option<&str>, tried: &[Arc<Backend>]) -> Option<Arc<Backend>> {
        self.pick_at(key, tried, Instant::now())
    }

    fn pick_at(&self, key: Option<&str>, tried: &[Arc<Backend>], now: Instant) -> Option<Arc<Backend>> {
        let set = self.inner.set.load();
        let fresh = |b: &Arc<Backend>| !tried.iter().any(|t| Arc::ptr_eq(t, b));
        let all = 0..set.backends.len();
        // On the stack for pools of usual size: this runs for every call.
        let usable: SmallVec<[usize; 16]> =
            all.clone().filter(|&i| fresh(&set.backends[i]) && set.backends[i].available(now)).collect();
        let candidates = if usable.is_empty() {
            // Panic mode: nothing is known good; try what has not been tried,
            // then anything.
            let untried: SmallVec<[usize; 16]> = all.clone().filter(|&i| fresh(&set.backends[i])).collect();
            if untried.is_empty() { all.collect() } else { untried }
        } else {
            usable
        };
        let chosen = policy::choose(&self.inner, &set, &candidates, key)?;
        Some(set.backends[chosen].clone())
    }

    /// Runs one call: picks an instance, runs `attempt` on it under the
    /// attempt timeout, and retries as the module docs describe.
    pub async fn execute<T, E, F, Fut>(
        &self,
        key: Option<&str>,
        idempotent: bool,
        attempt: F,
    ) -> Result<T, ExecuteError<E>>
    where
        F: FnMut(Arc<Backend>) -> Fut,
        Fut: Future<Output = Result<T, AttemptError<E>>>,
    {
        self.execute_within(None, key, idempotent, attempt).await
    }

    /// [`Pool::execute`] with every attempt over within `budget` when that
    /// is shorter than the call timeout: a caller with a deadline of its own
    /// (the gateway's route budget) needs no second timer. An attempt the
    /// budget cuts short counts as a timeout of that instance.
    pub async fn execute_within<T, E, F, Fut>(
        &self,
        budget: Option<Duration>,
        key: Option<&str>,
        idempotent: bool,
        mut attempt: F,
    ) -> Result<T, ExecuteError<E>>
    where
        F: FnMut(Arc<Backend>) -> Fut,
        Fut: Future<Output = Result<T, AttemptError<E>>>,
    {
        let s = &self.inner.settings;
        let started = Instant::now();
        let total = Duration::from_millis(s.call_timeout_ms);
        let deadline = started + budget.map_or(total, |b| b.min(total));
        self.inner.budget.deposit();
        if self.inner.set.load().backends.is_empty() {
            self.resolve().await;
        }
        let mut tried: Vec<Arc<Backend>> = Vec::new();
        let mut last: Option<String> = None;
        for n in 0..s.max_attempts {
            let now = if n == 0 {
                started
            } else {
                let cap = Duration::from_millis(s.backoff_ms.saturating_mul(1 << (n - 1).min(10)));
                let wait = cap.mul_f64(rand::random::<f64>());
                if Instant::now() + wait >= deadline {
                    break;
                }
                tokio::time::sleep(wait).await;
                Instant::now()
            };
            let Some(backend) = self.pick_at(key, &tried, now) else {
                last = Some(format!("no {} instance known (targets: {:?})", self.inner.component, self.inner.targets));
                break;
            };
            let remaining = deadline.saturating_duration_since(now);
            if remaining.is_zero() {
                break;
            }
            let limit = remaining.min(Duration::from_millis(s.attempt_timeout_ms));
            let outcome = {
                let _in_flight = InFlight::start(&backend);
                match tokio::time::timeout(limit, attempt(backend.clone())).await {
                    Ok(r) => r,
                    Err(_) => Err(AttemptError::Failed(format!("no answer within {limit:?}"))),
                }
            };
            // (may retry, costs retry budget): a request that never arrived
            // adds no load, so retrying it costs no budget.
            let (retry_safe, costs_budget) = match outcome {
                Ok(v) => {
                    backend.succeeded();
                    return Ok(v);
                }
                Err(AttemptError::Answer(e)) => {
                    backend.succeeded();
                    return Err(ExecuteError::Answer(e));
                }
                Err(AttemptError::NotSent(why)) => {
                    backend.failed(&self.inner.eject, Instant::now(), &why);
                    last = Some(format!("{}: {why}", backend.addr));
                    (true, false)
                }
                Err(AttemptError::Failed(why)) => {
                    backend.failed(&self.inner.eject, Instant::now(), &why);
                    last = Some(format!("{}: {why}", backend.addr));
                    (idempotent, true)
                }
            };
            tried.push(backend);
            if !retry_safe || (costs_budget && !self.inner.budget.withdraw()) {
                break;
            }
        }
        let last = last.as_deref().unwrap_or("no attempt made");
        Err(ExecuteError::Unavailable(format!("{} unavailable: {last}", self.inner.component)))
    }

    /// Marks an instance as draining (it answered with [`DRAINING_HEADER`]).
    pub fn draining(&self, backend: &Backend) {
        backend.mark_draining();
    }

    /// Resolves the targets now and swaps in the new set.
    pub async fn resolve(&self) {
        resolve(&self.inner).await;
    }
}

async fn resolve(inner: &Inner) {
    let mut found: Vec<(String, u32)> = Vec::new();
    let mut failed = false;
    for t in &inner.targets {
        if let Some(a) = t.literal() {
            found.push((a.to_string(), t.weight));
            continue;
        }
        match tokio::net::lookup_host((t.host.as_str(), t.port)).await {
            Ok(addrs) => found.extend(addrs.map(|a| (a.to_string(), t.weight))),
            Err(e) => {
                failed = true;
                tracing::warn!(component = %inner.component, host = %t.host, error = %e,
                    "cannot resolve; keeping the instances it had");
            }
        }
    }
    let current = inner.set.load();
    if failed {
        // Keep what a failed name had rather than dropping its instances.
        for b in &current.backends {
            if !found.iter().any(|(a, _)| a == &b.addr)
                && inner.targets.iter().all(|t| t.literal().is_none_or(|l| l.to_string() != b.addr))
            {
                found.push((b.addr.clone(), b.weight));
            }
        }
    }
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0);
    let same = found.len() == current.backends.len()
        && found.iter().zip(current.backends.iter()).all(|((a, w), b)| *a == b.addr && *w == b.weight);
    if same {
        return;
    }
    let old: HashMap<&str, &Arc<Backend>> = current.backends.iter().map(|b| (b.addr.as_str(), b)).collect();
    let backends: Vec<Arc<Backend>> = found
        .iter()
        .map(|(a, w)| match old.get(a.as_str()) {
            Some(b) if b.weight == *w => Arc::clone(b),
            _ => Arc::new(Backend::new(a.clone(), *w)),
        })
        .collect();
    tracing::info!(component = %inner.component, instances = ?found.iter().map(|f| &f.0).collect::<Vec<_>>(),
        "instances changed");
    inner.set.store(Arc::new(BackendSet::new(backends)));
}

/// Re-resolution and active health checks, until the pool is dropped.
async fn background(inner: Weak<Inner>) {
    let (health_every, resolve_every) = match inner.upgrade() {
        Some(i) => (i.settings.health_interval_ms, i.settings.resolve_interval_ms),
        None => return,
    };
    let tick = Duration::from_millis(match (health_every, resolve_every) {
        (0, r) => r.max(100),
        (h, 0) => h,
        (h, r) => h.min(r),
    });
    let mut last_resolve: Option<Instant> = None;
    let mut last_check: Option<Instant> = None;
    loop {
        {
            let Some(inner) = inner.upgrade() else { return };
            let now = Instant::now();
            let due = |last: Option<Instant>, every: u64| {
                every > 0 && last.is_none_or(|l| now >= l + Duration::from_millis(every))
            };
            if last_resolve.is_none() || due(last_resolve, resolve_every) {
                last_resolve = Some(now);
                resolve(&inner).await;
            }
            if due(last_check, health_every) {
                last_check = Some(now);
                check_all(&inner).await;
            }
        }
        tokio::time::sleep(tick).await;
    }
}

async fn check_all(inner: &Inner) {
    let set = inner.set.load_full();
    let timeout = Duration::from_millis(inner.settings.health_timeout_ms);
    futures::future::join_all(set.backends.iter().map(|b| async move {
        let url = format!("{}{}", b.base, inner.settings.health_path);
        let r = inner.http.get(&url).timeout(timeout).send().await;
        let (healthy, draining) = match r {
            Ok(resp) => (resp.status().is_success(), resp.headers().contains_key(DRAINING_HEADER)),
            Err(_) => (false, false),
        };
        b.checked(healthy, draining);
    }))
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_weights_and_reject_nonsense() {
        assert_eq!(
            Target::parse("10.0.0.1:8281 weight=3").unwrap(),
            Target { host: "10.0.0.1".into(), port: 8281, weight: 3 }
        );
        assert_eq!(Target::parse("http://posts:80/").unwrap(), Target { host: "posts".into(), port: 80, weight: 1 });
        assert_eq!(Target::parse("[::1]:9").unwrap().literal().unwrap().to_string(), "[::1]:9");
        for bad in ["", "posts", "posts:http", ":80", "a:1 weight=0", "a:1 heavy"] {
            assert!(Target::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
