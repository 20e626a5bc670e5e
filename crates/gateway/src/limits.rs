//! Rate limits as Mastodon applies them: fixed windows aligned to the
//! period (what Rack::Attack does), counted in the shared state so every
//! gateway instance sees the same counts (Redis in split mode, memory
//! all-in-one). Password checks are limited in a sliding window instead
//! ([`RateLimiter::hit_sliding`]): a fixed window lets a guesser spend two
//! windows' worth across a boundary.
//!
//! The window is chosen here, from [`Clock`], and is part of the counter's
//! key (`rl:<bucket>:<who>:<window>`); the shared state only counts and
//! expires. So all gateways agree on window boundaries, and tests drive
//! the clock instead of sleeping.

use cache::SharedState;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// `requests` per `period_secs`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub requests: u64,
    pub period_secs: u64,
}

impl Limit {
    pub const fn new(requests: u64, period_secs: u64) -> Self {
        Limit { requests, period_secs }
    }
}

/// Mastodon's defaults: 300 requests per 5 minutes for each account and
/// for each IP address without a user token; stricter buckets on top for
/// sign-ups (per IP), media uploads and deletions (per account).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub per_account: Limit,
    pub per_ip: Limit,
    pub sign_up: Limit,
    pub media: Limit,
    pub delete: Limit,
    /// Password checks (the password grant and the authorize form) per
    /// client address, IPv6 by /64, in a sliding window.
    pub password_per_ip: Limit,
    /// Password checks per login named (e-mail or username), in a sliding
    /// window: guessing one account's password from many addresses.
    pub password_per_account: Limit,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            per_account: Limit::new(300, 300),
            per_ip: Limit::new(300, 300),
            sign_up: Limit::new(5, 1_800),
            media: Limit::new(30, 1_800),
            delete: Limit::new(30, 1_800),
            password_per_ip: Limit::new(25, 300),
            password_per_account: Limit::new(25, 3_600),
        }
    }
}

impl RateLimitSettings {
    pub fn validate(&self) -> Result<(), String> {
        for (name, l) in [
            ("per_account", self.per_account),
            ("per_ip", self.per_ip),
            ("sign_up", self.sign_up),
            ("media", self.media),
            ("delete", self.delete),
            ("password_per_ip", self.password_per_ip),
            ("password_per_account", self.password_per_account),
        ] {
            if l.requests == 0 || l.period_secs == 0 {
                return Err(format!("rate_limits.{name}: requests and period_secs must be positive"));
            }
        }
        Ok(())
    }
}

/// Wall-clock milliseconds. `Manual` is for tests: it moves only when told.
#[derive(Clone, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(Arc<AtomicI64>),
}

impl Clock {
    pub fn manual(start_ms: i64) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(start_ms)))
    }

    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => model::time_fmt::now_millis(),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(t) = self {
            t.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
        }
    }
}

/// One bucket's verdict for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub limit: u64,
    pub remaining: u64,
    /// Unix milliseconds when the window ends.
    pub reset_ms: i64,
    pub allowed: bool,
}

#[derive(Clone)]
pub struct RateLimiter {
    pub settings: RateLimitSettings,
    shared: Arc<dyn SharedState>,
    clock: Clock,
}

impl RateLimiter {
    pub fn new(settings: RateLimitSettings, shared: Arc<dyn SharedState>, clock: Clock) -> Self {
        RateLimiter { settings, shared, clock }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Counts one request of `who` in `bucket`. `Err` when the shared state
    /// cannot be reached; the caller lets the request through (a limiter
    /// that is down must not take the API down with it).
    pub async fn hit(&self, bucket: &str, who: &str, limit: Limit) -> Result<Verdict, cache::CacheError> {
        let period_ms = (limit.period_secs * 1000) as i64;
        let now = self.clock.now_ms();
        let window = now.div_euclid(period_ms);
        let reset_ms = (window + 1) * period_ms;
        let key = format!("rl:{bucket}:{who}:{window}");
        // The counter outlives its window a little so clocks a few
        // seconds apart still agree on the count.
        let ttl = Duration::from_millis((reset_ms - now) as u64 + 5_000);
        let (count, _) = self.shared.hit(&key, ttl).await?;
        Ok(Verdict {
            limit: limit.requests,
            remaining: limit.requests.saturating_sub(count),
            reset_ms,
            allowed: count <= limit.requests,
        })
    }
}

impl RateLimiter {
    /// Counts one request of `who` in `bucket` in a sliding window: the
    /// current fixed window's count plus the previous one's, weighted by
    /// how much of the previous window the sliding one still covers. No
    /// `period` of time ever holds much more than `limit` allowed requests,
    /// wherever it starts. `reset_ms` is when the next request would be
    /// allowed.
    pub async fn hit_sliding(&self, bucket: &str, who: &str, limit: Limit) -> Result<Verdict, cache::CacheError> {
        let period = (limit.period_secs * 1000) as i64;
        let now = self.clock.now_ms();
        let window = now.div_euclid(period);
        let elapsed = now - window * period;
        // One hash tag for both windows: one Redis Cluster slot.
        let key = |w: i64| format!("sl:{{{bucket}:{who}}}:{w}");
        // Read through the next window too, as its "previous".
        let ttl = Duration::from_millis((2 * period - elapsed) as u64 + 5_000);
        let (current, previous) = self.shared.hit_reading(&key(window), ttl, &key(window - 1)).await?;
        let left_of_window = (period - elapsed) as f64;
        let estimate = current as f64 + previous as f64 * left_of_window / period as f64;
        let max = limit.requests as f64;
        let allowed = estimate <= max;
        // When the next request would be allowed (it counts one more).
        let room = max - 1.0;
        let wait_ms = if allowed {
            0.0
        } else if (current as f64) <= room && previous > 0 {
            // Within this window, once the previous one's weight falls far enough.
            left_of_window - (room - current as f64) * period as f64 / previous as f64
        } else {
            // After this window, once its weight as the previous one falls.
            left_of_window + (period as f64 * (1.0 - room / current as f64)).max(0.0)
        };
        Ok(Verdict {
            limit: limit.requests,
            remaining: (max - estimate).floor().max(0.0) as u64,
            reset_ms: now + wait_ms.ceil().max(0.0) as i64,
            allowed,
        })
    }
}
