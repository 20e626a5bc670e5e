//! The shared-state port for what several instances of a component must
//! agree on: fixed-window counters (rate limits), short-lived values (cached
//! token checks, cached records — see [`crate::records`]) and small sets
//! that never expire (the accounts `timelines` serves by the celebrity pull
//! path). [`MemorySharedState`] serves all-in-one; [`RedisSharedState`]
//! shares the state between instances. Both pass [`contract`].
//!
//! The memory adapter reads `tokio::time::Instant`, so tests of what is
//! built on it can run under paused time.

use crate::redis_cache::RedisConnection;
use crate::{CacheError, Result};
use async_trait::async_trait;
use futures::future::join_all;
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
    /// Counts one hit on the counter `current` (as [`hit`](Self::hit)) and
    /// reads the counter `previous` without counting (0 when there is
    /// none), atomically: a sliding window weighs the previous window's
    /// count by how much of it still overlaps. On a Redis Cluster both
    /// keys must live in one slot: give them a common `{hash tag}`.
    async fn hit_reading(&self, current: &str, window: Duration, previous: &str) -> Result<(u64, u64)>;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()>;
    async fn delete(&self, key: &str) -> Result<()>;
    /// The values under `keys`, in order: `None` where absent or expired.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>>;
    /// Stores each value for `ttl`. With `only_if_absent`, a key that
    /// already holds a value keeps it: readers filling misses use it, so a
    /// value an owner wrote after the reader's read is never overwritten
    /// by the older one.
    async fn set_many(&self, entries: &[(String, Vec<u8>)], ttl: Duration, only_if_absent: bool) -> Result<()>;
    /// Adds `member` to the set `key`; true if it was not there. Sets do
    /// not expire, and adding and removing are atomic, so instances racing
    /// on one set lose no update.
    async fn set_add(&self, key: &str, member: &str) -> Result<bool>;
    /// Removes `member` from the set `key`; true if it was there.
    async fn set_remove(&self, key: &str, member: &str) -> Result<bool>;
    async fn set_members(&self, key: &str) -> Result<Vec<String>>;
}

/// Values the memory adapter holds at most; past it, expired values go
/// first, then arbitrary ones (everything stored is a cache that its
/// readers can rebuild).
const MEMORY_VALUES: usize = 200_000;

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

    async fn hit_reading(&self, current: &str, window: Duration, previous: &str) -> Result<(u64, u64)> {
        let (n, _) = self.hit(current, window).await?;
        let now = Instant::now();
        let counters = self.counters.lock().expect("counter lock poisoned");
        let before = counters.get(previous).filter(|(_, end)| *end > now).map_or(0, |(n, _)| *n);
        Ok((n, before))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.get_many(&[key.to_string()]).await?.pop().flatten())
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        self.set_many(&[(key.to_string(), value.to_vec())], ttl, false).await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let now = Instant::now();
        let values = self.values.lock().expect("value lock poisoned");
        Ok(keys.iter().map(|k| values.get(k).filter(|(_, end)| *end > now).map(|(v, _)| v.clone())).collect())
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>)], ttl: Duration, only_if_absent: bool) -> Result<()> {
        let now = Instant::now();
        let mut values = self.values.lock().expect("value lock poisoned");
        if values.len() + entries.len() > MEMORY_VALUES {
            values.retain(|_, (_, end)| *end > now);
            let excess = (values.len() + entries.len()).saturating_sub(MEMORY_VALUES * 9 / 10);
            let victims: Vec<String> = values.keys().take(excess).cloned().collect();
            for k in victims {
                values.remove(&k);
            }
        }
        for (key, value) in entries {
            if only_if_absent && values.get(key).is_some_and(|(_, end)| *end > now) {
                continue;
            }
            values.insert(key.clone(), (value.clone(), now + ttl));
        }
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

/// `HIT` on KEYS[1], then the count under KEYS[2], in one round trip.
static HIT_READING: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
        local n = redis.call('INCR', KEYS[1])
        if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return {n, tonumber(redis.call('GET', KEYS[2]) or '0')}
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

    async fn hit_reading(&self, current: &str, window: Duration, previous: &str) -> Result<(u64, u64)> {
        HIT_READING
            .key(self.key("hits", current))
            .key(self.key("hits", previous))
            .arg(window.as_millis() as u64)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(fail)
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

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|k| self.key("val", k)).collect();
        match &self.conn {
            // One round trip.
            RedisConnection::Single(_) => {
                redis::cmd("MGET").arg(&keys).query_async(&mut self.conn.clone()).await.map_err(fail)
            }
            // Keys lie in different slots: one GET each, concurrently.
            RedisConnection::Cluster(_) => join_all(keys.iter().map(|k| {
                let mut conn = self.conn.clone();
                async move { redis::cmd("GET").arg(k).query_async::<Option<Vec<u8>>>(&mut conn).await }
            }))
            .await
            .into_iter()
            .collect::<std::result::Result<_, _>>()
            .map_err(fail),
        }
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>)], ttl: Duration, only_if_absent: bool) -> Result<()> {
        let ms = ttl.as_millis().max(1) as u64;
        let command = |key: &str, value: &[u8]| {
            let mut c = redis::cmd("SET");
            c.arg(self.key("val", key)).arg(value).arg("PX").arg(ms);
            if only_if_absent {
                c.arg("NX");
            }
            c
        };
        match &self.conn {
            RedisConnection::Single(_) => {
                let mut pipe = redis::pipe();
                for (k, v) in entries {
                    pipe.add_command(command(k, v)).ignore();
                }
                pipe.query_async::<()>(&mut self.conn.clone()).await.map_err(fail)
            }
            RedisConnection::Cluster(_) => join_all(entries.iter().map(|(k, v)| {
                let (mut conn, cmd) = (self.conn.clone(), command(k, v));
                async move { cmd.query_async::<()>(&mut conn).await }
            }))
            .await
            .into_iter()
            .collect::<std::result::Result<(), _>>()
            .map_err(fail),
        }
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
        a_hit_reads_the_previous_counter(s).await;
        values_live_until_their_ttl(s).await;
        values_are_read_and_written_in_batches(s).await;
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

    pub async fn a_hit_reads_the_previous_counter<S: SharedState>(s: &S) {
        let window = Duration::from_secs(60);
        assert_eq!(s.hit_reading("slide:{a}:2", window, "slide:{a}:1").await.unwrap(), (1, 0), "no previous counter");
        for _ in 0..3 {
            s.hit("slide:{a}:1", window).await.unwrap();
        }
        assert_eq!(s.hit_reading("slide:{a}:2", window, "slide:{a}:1").await.unwrap(), (2, 3));
        assert_eq!(s.hit("slide:{a}:1", window).await.unwrap().0, 4, "reading did not count");
    }

    pub async fn values_are_read_and_written_in_batches<S: SharedState>(s: &S) {
        let keys: Vec<String> = ["rec:a", "rec:b", "rec:c"].map(String::from).to_vec();
        assert_eq!(s.get_many(&keys).await.unwrap(), [None, None, None]);
        assert!(s.get_many(&[]).await.unwrap().is_empty());
        let long = Duration::from_secs(30);
        s.set_many(&[("rec:a".into(), b"1".to_vec()), ("rec:c".into(), b"3".to_vec())], long, false).await.unwrap();
        assert_eq!(s.get_many(&keys).await.unwrap(), [Some(b"1".to_vec()), None, Some(b"3".to_vec())]);
        // A filling reader does not overwrite what is there, and fills what is not.
        s.set_many(&[("rec:a".into(), b"old".to_vec()), ("rec:b".into(), b"2".to_vec())], long, true).await.unwrap();
        assert_eq!(s.get_many(&keys).await.unwrap(), [Some(b"1".to_vec()), Some(b"2".to_vec()), Some(b"3".to_vec())]);
        // An owner's write replaces; an empty value is a value.
        s.set_many(&[("rec:a".into(), b"new".to_vec()), ("rec:b".into(), vec![])], long, false).await.unwrap();
        assert_eq!(s.get_many(&keys).await.unwrap(), [Some(b"new".to_vec()), Some(vec![]), Some(b"3".to_vec())]);
        assert_eq!(s.get("rec:a").await.unwrap(), Some(b"new".to_vec()), "one value space with get/set");
        s.set_many(&[("rec:short".into(), b"x".to_vec())], Duration::from_millis(300), false).await.unwrap();
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(s.get_many(&["rec:short".into()]).await.unwrap(), [None], "expired");
        s.set_many(&[("rec:short".into(), b"y".to_vec())], long, true).await.unwrap();
        assert_eq!(
            s.get_many(&["rec:short".into()]).await.unwrap(),
            [Some(b"y".to_vec())],
            "an expired value is absent"
        );
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

    #[tokio::test]
    async fn memory_values_stay_bounded() {
        let s = MemorySharedState::new();
        let ttl = Duration::from_secs(60);
        for chunk in 0..(MEMORY_VALUES / 1000 + 20) {
            let entries: Vec<(String, Vec<u8>)> = (0..1000).map(|i| (format!("k{chunk}:{i}"), vec![1])).collect();
            s.set_many(&entries, ttl, false).await.unwrap();
        }
        let held = s.values.lock().unwrap().len();
        assert!(held <= MEMORY_VALUES && held > MEMORY_VALUES / 2, "holds {held}");
        let last = format!("k{}:999", MEMORY_VALUES / 1000 + 19);
        assert_eq!(s.get(&last).await.unwrap(), Some(vec![1]), "the newest value is kept");
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
