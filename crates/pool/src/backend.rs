//! One instance of a component as a caller sees it: its address, weight,
//! requests in flight, and health — the active-check verdict, the circuit
//! breaker fed by passive observations, and whether it is draining.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// The circuit breaker of one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breaker {
    /// Taking traffic.
    Closed,
    /// Ejected after consecutive failures; no traffic until `until`.
    Open { until: Instant },
    /// The backoff is over: one trial request decides. `trial` is true
    /// while that request is in flight, so a backend that is still broken
    /// costs one request per backoff, not a burst.
    HalfOpen { trial: bool },
}

#[derive(Debug)]
struct Health {
    breaker: Breaker,
    /// Consecutive failed requests (passive).
    failures: u32,
    /// Ejections since the backend last succeeded: the backoff doubles with
    /// each, so a flapping backend is tried less and less often.
    ejections: u32,
}

/// What a caller knows about one instance. Shared between the balancer, the
/// health checker and in-flight requests; kept across re-resolutions of
/// its address so its history is not forgotten.
#[derive(Debug)]
pub struct Backend {
    /// `ip:port` (or `host:port` when a name did not resolve).
    pub addr: String,
    /// `http://ip:port`.
    pub base: String,
    pub weight: u32,
    outstanding: AtomicUsize,
    health: Mutex<Health>,
    /// The breaker is closed and no failure was seen since the last
    /// success — the usual state, in which a request needs no lock.
    quiet: AtomicBool,
    /// The last active check failed (connection refused, timeout, non-2xx).
    down: AtomicBool,
    /// The instance said it is shutting down; it gets no new requests.
    draining: AtomicBool,
    /// Smooth weighted round-robin's running weight (nginx's algorithm).
    pub(super) current_weight: AtomicI64,
}

/// How the breaker reacts to failures.
#[derive(Debug, Clone, Copy)]
pub struct EjectPolicy {
    pub after_failures: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Backend {
    pub fn new(addr: String, weight: u32) -> Self {
        Backend {
            base: format!("http://{addr}"),
            addr,
            weight: weight.max(1),
            outstanding: AtomicUsize::new(0),
            health: Mutex::new(Health { breaker: Breaker::Closed, failures: 0, ejections: 0 }),
            quiet: AtomicBool::new(true),
            down: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            current_weight: AtomicI64::new(0),
        }
    }

    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    pub fn breaker(&self) -> Breaker {
        self.health.lock().expect("backend health lock").breaker
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// May a new request go here now? Moves an expired `Open` to `HalfOpen`.
    pub fn available(&self, now: Instant) -> bool {
        if self.is_down() || self.is_draining() {
            return false;
        }
        if self.quiet.load(Ordering::Acquire) {
            return true;
        }
        let mut h = self.health.lock().expect("backend health lock");
        match h.breaker {
            Breaker::Closed => true,
            Breaker::Open { until } if now >= until => {
                h.breaker = Breaker::HalfOpen { trial: false };
                true
            }
            Breaker::Open { .. } => false,
            Breaker::HalfOpen { trial } => !trial,
        }
    }

    /// Marks a request as started: counts it in flight and, when the breaker
    /// is half open, makes it the one trial request.
    pub(super) fn begin(&self) {
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        if self.quiet.load(Ordering::Acquire) {
            return;
        }
        let mut h = self.health.lock().expect("backend health lock");
        if let Breaker::HalfOpen { trial: false } = h.breaker {
            h.breaker = Breaker::HalfOpen { trial: true };
        }
    }

    pub(super) fn end(&self) {
        self.outstanding.fetch_sub(1, Ordering::Relaxed);
        // A trial request abandoned by its caller (cancelled, timed out
        // upstream) decided nothing: let the next request be the trial.
        if self.quiet.load(Ordering::Acquire) {
            return;
        }
        let mut h = self.health.lock().expect("backend health lock");
        if let Breaker::HalfOpen { trial: true } = h.breaker {
            h.breaker = Breaker::HalfOpen { trial: false };
        }
    }

    pub(super) fn succeeded(&self) {
        if self.quiet.load(Ordering::Acquire) {
            return;
        }
        let mut h = self.health.lock().expect("backend health lock");
        h.failures = 0;
        if h.breaker != Breaker::Closed {
            tracing::info!(backend = %self.addr, "backend answers again; back in rotation");
            h.breaker = Breaker::Closed;
        }
        h.ejections = 0;
        self.quiet.store(true, Ordering::Release);
    }

    /// A request failed in a way that says something about this instance
    /// (not reachable, timed out, overloaded).
    pub(super) fn failed(&self, policy: &EjectPolicy, now: Instant, why: &str) {
        let mut h = self.health.lock().expect("backend health lock");
        // Before anything changes: from now on requests take the lock.
        self.quiet.store(false, Ordering::Release);
        h.failures += 1;
        let eject = match h.breaker {
            Breaker::HalfOpen { .. } => true,
            Breaker::Closed => h.failures >= policy.after_failures,
            Breaker::Open { .. } => false,
        };
        if eject {
            h.ejections += 1;
            let factor = 1u32 << (h.ejections - 1).min(16);
            let backoff = policy.base.saturating_mul(factor).min(policy.max);
            tracing::warn!(backend = %self.addr, failures = h.failures, ?backoff, reason = why,
                "backend ejected from the pool");
            h.breaker = Breaker::Open { until: now + backoff };
        }
    }

    /// The verdict of an active health check. A success only clears the
    /// `down` flag: a breaker opened by failed requests still waits out its
    /// backoff and a trial request, so a backend that passes `/healthz` but
    /// fails real calls is not readmitted at every check.
    pub(super) fn checked(&self, healthy: bool, draining: bool) {
        let was_down = self.down.swap(!healthy, Ordering::Relaxed);
        if was_down == healthy {
            if healthy {
                tracing::info!(backend = %self.addr, "backend passes its health check");
            } else {
                tracing::warn!(backend = %self.addr, "backend fails its health check; no traffic until it passes");
            }
        }
        self.draining.store(draining, Ordering::Relaxed);
    }

    pub(super) fn mark_draining(&self) {
        if !self.draining.swap(true, Ordering::Relaxed) {
            tracing::info!(backend = %self.addr, "backend is draining; no new requests");
        }
    }
}

/// Counts a request in flight for as long as it lives.
pub(super) struct InFlight<'a>(pub &'a Backend);

impl<'a> InFlight<'a> {
    pub fn start(backend: &'a Backend) -> Self {
        backend.begin();
        InFlight(backend)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}
