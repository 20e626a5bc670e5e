//! The shared-state port for what several instances of a component must
//! agree on: fixed-window counters (rate limits), short-lived values (cached
//! token checks) and small sets that never expire (the accounts `timelines`
//! serves by the celebrity pull path). [`MemorySharedState`] serves all-in-one; [`RedisSharedState`]
//! shares the state between gateway instances. Both pass [`contract`].
//!
//! The memory adapter reads `tokio::time::Instant`, so tests of what is
//! built on it can run under paused time.

use crate::redis_cache::RedisConnection;
use crate::{CacheError, Result};
use async_trait::async_trait;
use redis::Script;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[async_trait]
pub trait SharedState: Send + Sync + 'static {
    /// Counts one hit on `key` in its current window of `window` (the
    /// window starts with the first hit); returns the count so far and the
    /// time until the window resets.
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, Duration)>;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()>;
    async fn delete(&self, key: &str) -> Result<()>;
    /// Adds `member` to the set `key`; true if it was not there. Sets do
    /// not expire, and adding and removing are atomic, so instances racing
    /// on one set lose no update.
    async fn set_add(&self, key: &str, member: &str) -> Result<bool>;
    /// Removes `member` from the set `key`; true if it was there.
    async fn set_remove(&self, key: &str, member: &str) -> Result<bool>;
    async fn set_members(&self, key: &str) -> Result<Vec<String>>;
}

#[derive(Default)]
pub struct MemorySharedState {
    counters: Mutex<HashMap<String, (u64, Instant)>>,
    values: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
    sets: Mutex<HashMap<String, std::collections::BTreeSet<String>>>,
}

impl MemorySharedState {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl SharedState for MemorySharedState {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, Duration)> {
        let now = Instant::now();
        let mut counters = self.counters.lock().expect("counter lock poisoned");
        // Forget finished windows now and then, so the map stays bounded.
        if counters.len() > 100_000 {
            counters.retain(|_, (_, end)| *end > now);
        }
        let entry = counters.entry(key.to_string()).or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 += 1;
        Ok((entry.0, entry.1 - now))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let values = self.values.lock().expect("value lock poisoned");
        Ok(values.get(key).filter(|(_, end)| *end > Instant::now()).map(|(v, _)| v.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let now = Instant::now();
        let mut values = self.values.lock().expect("value lock poisoned");
        if values.len() > 100_000 {
            values.retain(|_, (_, end)| *end > now);
        }
        values.insert(key.to_string(), (value.to_vec(), now + ttl));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.values.lock().expect("value lock poisoned").remove(key);
        Ok(())
    }

    async fn set_add(&self, key: &str, member: &str) -> Result<bool> {
        let mut sets = self.sets.lock().expect("set lock poisoned");
        Ok(sets.entry(key.to_string()).or_default().insert(member.to_string()))
    }

    async fn set_remove(&self, key: &str, member: &str) -> Result<bool> {
        let mut sets = self.sets.lock().expect("set lock poisoned");
        Ok(sets.get_mut(key).is_some_and(|s| s.remove(member)))
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>> {
        let sets = self.sets.lock().expect("set lock poisoned");
        Ok(sets.get(key).map(|s| s.iter().cloned().collect()).unwrap_or_default())
    }
}

/// Shared state in Redis (single node or Cluster: every operation touches
/// one key). Counters are `INCR` plus an expiry set by the first hit, in
/// one script so a crash between the two cannot leave a counter that never
/// resets.
pub struct RedisSharedState {
    conn: RedisConnection,
    prefix: String,
}

static HIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
        local n = redis.call('INCR', KEYS[1])
        if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
        return {n, ttl}
        "#,
    )
});

fn fail(e: redis::RedisError) -> CacheError {
    CacheError(format!("Redis: {e}"))
}

impl RedisSharedState {
    pub fn new(conn: RedisConnection, prefix: &str) -> Self {
        RedisSharedState { conn, prefix: prefix.to_string() }
    }
    fn key(&self, kind: &str, key: &str) -> String {
        format!("{}{kind}:{key}", self.prefix)
    }

    /// `SADD` or `SREM` of one member; whether the set changed.
    async fn set_change(&self, command: &str, key: &str, member: &str) -> Result<bool> {
        let n: u64 = redis::cmd(command)
            .arg(self.key("set", key))
            .arg(member)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(fail)?;
        Ok(n == 1)
    }
}

#[async_trait]
impl SharedState for RedisSharedState {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, Duration)> {
        let (n, ttl): (u64, i64) = HIT
            .key(self.key("hits", key))
            .arg(window.as_millis() as u64)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(fail)?;
        Ok((n, Duration::from_millis(ttl.max(0) as u64)))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        redis::cmd("GET").arg(self.key("val", key)).query_async(&mut self.conn.clone()).await.map_err(fail)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        redis::cmd("SET")
            .arg(self.key("val", key))
            .arg(value)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(fail)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        redis::cmd("DEL").arg(self.key("val", key)).query_async::<()>(&mut self.conn.clone()).await.map_err(fail)
    }

    async fn set_add(&self, key: &str, member: &str) -> Result<bool> {
        self.set_change("SADD", key, member).await
    }

    async fn set_remove(&self, key: &str, member: &str) -> Result<bool> {
        self.set_change("SREM", key, member).await
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>> {
        redis::cmd("SMEMBERS").arg(self.key("set", key)).query_async(&mut self.conn.clone()).await.map_err(fail)
    }
}

/// The contract both adapters pass, on a fresh instance each (real time:
/// Redis expires keys on its own clock, so windows here are short).
pub mod contract {
    use super::SharedState;
    use std::time::Duration;

    pub async fn run_all<S: SharedState>(s: &S) {
        counters_count_within_a_window_and_reset_after_it(s).await;
        values_live_until_their_ttl(s).await;
        sets_add_and_remove_members(s).await;
    }

    pub async fn sets_add_and_remove_members<S: SharedState>(s: &S) {
        assert!(s.set_members("celebrities").await.unwrap().is_empty());
        assert!(s.set_add("celebrities", "7").await.unwrap());
        assert!(!s.set_add("celebrities", "7").await.unwrap(), "already there");
        assert!(s.set_add("celebrities", "8").await.unwrap());
        assert!(s.set_add("other", "9").await.unwrap());
        let mut m = s.set_members("celebrities").await.unwrap();
        m.sort();
        assert_eq!(m, ["7", "8"]);
        assert!(s.set_remove("celebrities", "7").await.unwrap());
        assert!(!s.set_remove("celebrities", "7").await.unwrap(), "already gone");
        assert!(!s.set_remove("nothing", "7").await.unwrap());
        assert_eq!(s.set_members("celebrities").await.unwrap(), ["8"]);
        assert_eq!(s.set_members("other").await.unwrap(), ["9"]);
    }

    pub async fn counters_count_within_a_window_and_reset_after_it<S: SharedState>(s: &S) {
        let window = Duration::from_millis(300);
        for expected in 1..=3 {
            let (n, reset) = s.hit("ip:1.2.3.4", window).await.unwrap();
            assert_eq!(n, expected);
            assert!(reset <= window && reset > Duration::ZERO, "reset {reset:?}");
        }
        assert_eq!(s.hit("ip:5.6.7.8", window).await.unwrap().0, 1, "keys are separate");
        tokio::time::sleep(window + Duration::from_millis(150)).await;
        assert_eq!(s.hit("ip:1.2.3.4", window).await.unwrap().0, 1, "a new window starts from one");
    }

    pub async fn values_live_until_their_ttl<S: SharedState>(s: &S) {
        assert_eq!(s.get("token:a").await.unwrap(), None);
        s.set("token:a", b"account 7", Duration::from_millis(300)).await.unwrap();
        s.set("token:b", b"account 8", Duration::from_secs(30)).await.unwrap();
        assert_eq!(s.get("token:a").await.unwrap().as_deref(), Some(&b"account 7"[..]));
        s.delete("token:b").await.unwrap();
        assert_eq!(s.get("token:b").await.unwrap(), None);
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(s.get("token:a").await.unwrap(), None, "expired");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_shared_state_passes_the_contract() {
        contract::run_all(&MemorySharedState::new()).await;
    }

    #[tokio::test(start_paused = true)]
    async fn memory_windows_follow_paused_time() {
        let s = MemorySharedState::new();
        let window = Duration::from_secs(300);
        assert_eq!(s.hit("k", window).await.unwrap(), (1, window));
        tokio::time::advance(Duration::from_secs(299)).await;
        assert_eq!(s.hit("k", window).await.unwrap(), (2, Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(s.hit("k", window).await.unwrap().0, 1);
    }
}
