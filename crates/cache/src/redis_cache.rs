//! Timelines in Redis, single node or Cluster.
//!
//! One sorted set per timeline, every score 0 and every member
//! `<post id, 20 digits>:<author id>`, or
//! `<post id>:<boosted id>:<boosted post's author>:<author id>` for a boost
//! (the author stays last, so one suffix finds an author's entries). With equal scores Redis orders
//! members by their bytes, so fixed-width ids sort exactly by id and keyset
//! pages are `ZREVRANGEBYLEX` ranges. (A score holding the 64-bit id would
//! be a double, exact only to 2^53: ids would collide and misorder.)
//!
//! A second key holds the timeline's state (`0` rebuilding, `1` ready;
//! absent = not cached). Both keys carry the hash tag `{tl:<owner>}`, so they
//! live in one Cluster slot and every multi-key script stays on one node.
//! Each operation on one timeline is one Lua script, atomic on the server.

use crate::{CacheError, Entry, Result, TimelineCache};
use async_trait::async_trait;
use futures::future::join_all;
use model::{Id, Page, PageDirection};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Script, Value};
use std::sync::LazyLock;
use std::time::Duration;

/// Either kind of connection; both multiplex many requests over few sockets
/// and reconnect by themselves.
#[derive(Clone)]
pub enum RedisConnection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConnection::Single(c) => c.req_packed_command(cmd),
            RedisConnection::Cluster(c) => c.req_packed_command(cmd),
        }
    }
    fn req_packed_commands<'a>(
        &'a mut self,
        p: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConnection::Single(c) => c.req_packed_commands(p, offset, count),
            RedisConnection::Cluster(c) => c.req_packed_commands(p, offset, count),
        }
    }
    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Single(c) => c.get_db(),
            RedisConnection::Cluster(c) => c.get_db(),
        }
    }
}

impl RedisConnection {
    /// `PING`, for readiness checks.
    pub async fn ping(&self) -> std::result::Result<(), String> {
        let mut conn = self.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await.map(|_| ()).map_err(|e| e.to_string())
    }

    /// Connects to one node (`urls.len() == 1` and not `cluster`) or to a
    /// Cluster through any of its nodes. Commands time out after `timeout`
    /// so a hung Redis turns into an error, not a stuck request.
    pub async fn connect(urls: &[String], cluster: bool, timeout: Duration) -> Result<Self> {
        let err = |e: redis::RedisError| CacheError(format!("cannot connect to Redis at {urls:?}: {e}"));
        if cluster {
            let client = ClusterClient::builder(urls.iter().cloned())
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .retries(2)
                .build()
                .map_err(err)?;
            Ok(RedisConnection::Cluster(client.get_async_connection().await.map_err(err)?))
        } else {
            let url = urls.first().ok_or_else(|| CacheError("no Redis URL configured".into()))?;
            let client = redis::Client::open(url.as_str()).map_err(err)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(2);
            Ok(RedisConnection::Single(client.get_connection_manager_with_config(config).await.map_err(err)?))
        }
    }
}

pub struct RedisTimelineCache {
    conn: RedisConnection,
    prefix: String,
    cap: usize,
    idle_ms: u64,
}

fn member(e: &Entry) -> String {
    match e.reblog_of {
        None => format!("{:020}:{}", e.post_id.get(), e.author_id.get()),
        Some(r) => {
            format!("{:020}:{}:{}:{}", e.post_id.get(), r.get(), e.reblog_author.map_or(0, Id::get), e.author_id.get())
        }
    }
}

fn parse_member(m: &str) -> Option<Entry> {
    let id = |s: &str| s.parse::<i64>().ok().map(Id::from_i64);
    let mut parts = m.split(':');
    let post = id(parts.next()?)?;
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(author), None, None, None) => Some(Entry::post(post, id(author)?)),
        (Some(of), Some(of_author), Some(author), None) => {
            let of_author = id(of_author).filter(|a| a.get() != 0);
            Some(Entry { post_id: post, author_id: id(author)?, reblog_of: Some(id(of)?), reblog_author: of_author })
        }
        _ => None,
    }
}

fn fail(e: redis::RedisError) -> CacheError {
    CacheError(format!("Redis: {e}"))
}

// KEYS[1] state, KEYS[2] set. ARGV[1] cap, ARGV[2] idle expiry in ms,
// ARGV[3..] members. Merges the rebuilt entries, marks the timeline ready
// and renews its idle expiry — only if it is still present; returns 1 if it
// was. The set always ends with the state's expiry, so the two keys vanish
// together.
static FINISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        for i = 3, #ARGV do redis.call('ZADD', KEYS[2], 0, ARGV[i]) end
        local cap = tonumber(ARGV[1])
        local n = redis.call('ZCARD', KEYS[2])
        if n > cap then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - cap - 1) end
        redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
        redis.call('PEXPIRE', KEYS[2], ARGV[2])
        return 1
        "#,
    )
});

// Fan-out: KEYS are the state and set of each timeline in turn (one
// timeline per call on a Cluster, where timelines live in different slots);
// ARGV[1] cap, ARGV[2..] members. Only present timelines are written, and
// their sets keep the state's expiry: fan-out never extends it. Four
// commands per timeline, since fan-out is most of Redis's work: `PTTL`
// answers both "present?" (-2 when not) and the expiry to copy, and
// `ZREMRANGEBYRANK 0 -(cap+1)` trims to the cap without a `ZCARD` (an
// empty range when the set is within it).
static ADD_MANY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
        local keep_from = -tonumber(ARGV[1]) - 1
        for k = 1, #KEYS, 2 do
            local ttl = redis.call('PTTL', KEYS[k])
            if ttl ~= -2 then
                for i = 2, #ARGV do redis.call('ZADD', KEYS[k + 1], 0, ARGV[i]) end
                redis.call('ZREMRANGEBYRANK', KEYS[k + 1], 0, keep_from)
                if ttl > 0 then redis.call('PEXPIRE', KEYS[k + 1], ttl) end
            end
        end
        return 1
        "#,
    )
});

/// Timelines per `ADD_MANY` call on a single node: large enough that a
/// 10,000-follower fan-out is 40 calls instead of 10,000, small enough that
/// one call does not hold Redis for long (each timeline is a few commands).
const FAN_OUT_BATCH: usize = 256;

// KEYS[1] state, KEYS[2] set. ARGV[1] cap, ARGV[2] floor ("" or a
// zero-padded post id followed by ':'), ARGV[3..] members. See
// `TimelineCache::backfill`; members compare as their post ids do.
static BACKFILL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
        local state = redis.call('GET', KEYS[1])
        if not state then return 0 end
        if state ~= '1' then redis.call('DEL', KEYS[1], KEYS[2]); return 0 end
        local from = nil
        if not redis.call('ZSCORE', KEYS[2], '00000000000000000000:0') then
            local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)
            if #oldest == 0 then return 1 end
            from = oldest[1]
        end
        if ARGV[2] ~= '' and (from == nil or ARGV[2] > from) then from = ARGV[2] end
        for i = 3, #ARGV do
            if from == nil or ARGV[i] >= from then redis.call('ZADD', KEYS[2], 0, ARGV[i]) end
        end
        if from ~= nil then redis.call('ZREMRANGEBYLEX', KEYS[2], '-', '(' .. from) end
        local cap = tonumber(ARGV[1])
        local n = redis.call('ZCARD', KEYS[2])
        if n > cap then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - cap - 1) end
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
        return 1
        "#,
    )
});

// KEYS[2] set; ARGV: zero-padded post ids. Removes `<id>:*` members.
static REMOVE_POSTS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
        for i = 1, #ARGV do
            redis.call('ZREMRANGEBYLEX', KEYS[2], '[' .. ARGV[i] .. ':', '(' .. ARGV[i] .. ';')
        end
        return 1
        "#,
    )
});

// KEYS[2] set; ARGV[1] ":<author id>". Removes that author's members.
static REMOVE_AUTHOR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
        local suffix = ARGV[1]
        local members = redis.call('ZRANGE', KEYS[2], 0, -1)
        for _, m in ipairs(members) do
            if string.sub(m, -string.len(suffix)) == suffix then redis.call('ZREM', KEYS[2], m) end
        end
        return 1
        "#,
    )
});

impl RedisTimelineCache {
    /// `prefix` namespaces every key (tests use a unique one each).
    pub fn new(conn: RedisConnection, prefix: &str, cap: usize) -> Self {
        Self::with_idle_expiry(conn, prefix, cap, crate::DEFAULT_IDLE_EXPIRY)
    }

    /// A timeline not read for `idle` expires (see [`TimelineCache`]).
    pub fn with_idle_expiry(conn: RedisConnection, prefix: &str, cap: usize, idle: Duration) -> Self {
        RedisTimelineCache {
            conn,
            prefix: prefix.to_string(),
            cap: cap.max(1),
            idle_ms: idle.as_millis().max(1) as u64,
        }
    }

    fn keys(&self, owner: Id) -> (String, String) {
        let tag = format!("{}{{tl:{}}}", self.prefix, owner.get());
        (format!("{tag}:state"), format!("{tag}:set"))
    }
}

#[async_trait]
impl TimelineCache for RedisTimelineCache {
    async fn is_ready(&self, owner: Id) -> Result<bool> {
        let (state, _) = self.keys(owner);
        let v: Option<String> = redis::cmd("GET").arg(state).query_async(&mut self.conn.clone()).await.map_err(fail)?;
        Ok(v.as_deref() == Some("1"))
    }

    async fn begin_rebuild(&self, owner: Id) -> Result<()> {
        let (state, _) = self.keys(owner);
        let _: Option<String> = redis::cmd("SET")
            .arg(state)
            .arg("0")
            .arg("NX")
            .arg("PX")
            .arg(self.idle_ms)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(fail)?;
        Ok(())
    }

    async fn finish_rebuild(&self, owner: Id, entries: &[Entry]) -> Result<bool> {
        let (state, set) = self.keys(owner);
        let mut inv = FINISH.key(state);
        inv.key(set).arg(self.cap).arg(self.idle_ms);
        for e in entries {
            inv.arg(member(e));
        }
        let written: i64 = inv.invoke_async(&mut self.conn.clone()).await.map_err(fail)?;
        Ok(written == 1)
    }

    async fn insert(&self, owners: &[Id], entries: &[Entry]) -> Result<()> {
        // A script's keys must share a Cluster slot, and each timeline has
        // its own: one timeline per call there, many on a single node. The
        // calls go out concurrently over the multiplexed connection.
        let batch = match self.conn {
            RedisConnection::Single(_) => FAN_OUT_BATCH,
            RedisConnection::Cluster(_) => 1,
        };
        let members: Vec<String> = entries.iter().map(member).collect();
        let calls = owners.chunks(batch).map(|batch| {
            let mut inv = ADD_MANY.prepare_invoke();
            for &owner in batch {
                let (state, set) = self.keys(owner);
                inv.key(state).key(set);
            }
            inv.arg(self.cap);
            for m in &members {
                inv.arg(m);
            }
            let mut conn = self.conn.clone();
            async move { inv.invoke_async::<i64>(&mut conn).await.map(|_| ()).map_err(fail) }
        });
        join_all(calls).await.into_iter().collect()
    }

    async fn backfill(&self, owner: Id, entries: &[Entry], floor: Option<Id>) -> Result<()> {
        let (state, set) = self.keys(owner);
        let mut inv = BACKFILL.key(state);
        inv.key(set).arg(self.cap).arg(floor.map(|f| format!("{:020}:", f.get())).unwrap_or_default());
        for e in entries {
            inv.arg(member(e));
        }
        let _: i64 = inv.invoke_async(&mut self.conn.clone()).await.map_err(fail)?;
        Ok(())
    }

    async fn remove_posts(&self, owners: &[Id], post_ids: &[Id]) -> Result<()> {
        let ids: Vec<String> = post_ids.iter().map(|p| format!("{:020}", p.get())).collect();
        let calls = owners
            .iter()
            .map(|&owner| {
                let (state, set) = self.keys(owner);
                let mut inv = REMOVE_POSTS.key(state);
                inv.key(set);
                for id in &ids {
                    inv.arg(id);
                }
                let mut conn = self.conn.clone();
                async move { inv.invoke_async::<i64>(&mut conn).await.map(|_| ()).map_err(fail) }
            })
            .collect::<Vec<_>>();
        join_all(calls).await.into_iter().collect()
    }

    async fn remove_author(&self, owner: Id, author: Id) -> Result<()> {
        let (state, set) = self.keys(owner);
        let mut inv = REMOVE_AUTHOR.key(state);
        inv.key(set).arg(format!(":{}", author.get()));
        let _: i64 = inv.invoke_async(&mut self.conn.clone()).await.map_err(fail)?;
        Ok(())
    }

    async fn page(&self, owner: Id, page: &Page) -> Result<Vec<Entry>> {
        let (state, set) = self.keys(owner);
        // Exclusive bounds: every member of id X sorts between "X:" and "X;".
        let upper = page.max_id.map(|m| format!("({:020}:", m.get())).unwrap_or_else(|| "+".into());
        let lower = page.lower().map(|l| format!("({:020};", l.get())).unwrap_or_else(|| "-".into());
        let mut conn = self.conn.clone();
        // Newest first walks down from the upper bound; a `min_id` page
        // walks up from the lower one (and is re-sorted below).
        let (command, from, to) = match page.direction() {
            PageDirection::Descending => ("ZREVRANGEBYLEX", upper, lower),
            PageDirection::AscendingFromMin => ("ZRANGEBYLEX", lower, upper),
        };
        // A read renews the idle expiry of both keys (same slot, so one
        // transaction is valid on a Cluster).
        let (members, _, _): (Vec<String>, i64, i64) = redis::pipe()
            .atomic()
            .cmd(command)
            .arg(&set)
            .arg(from)
            .arg(to)
            .arg("LIMIT")
            .arg(0)
            .arg(page.limit)
            .cmd("PEXPIRE")
            .arg(&state)
            .arg(self.idle_ms)
            .cmd("PEXPIRE")
            .arg(&set)
            .arg(self.idle_ms)
            .query_async(&mut conn)
            .await
            .map_err(fail)?;
        let mut out: Vec<Entry> = members.iter().filter_map(|m| parse_member(m)).collect();
        out.sort_by_key(|e| std::cmp::Reverse(e.post_id));
        Ok(out)
    }

    async fn len(&self, owner: Id) -> Result<usize> {
        let (_, set) = self.keys(owner);
        redis::cmd("ZCARD").arg(set).query_async(&mut self.conn.clone()).await.map_err(fail)
    }

    async fn evict(&self, owner: Id) -> Result<()> {
        let (state, set) = self.keys(owner);
        // Both keys share a slot, so one DEL is valid on a Cluster too.
        let _: i64 = redis::cmd("DEL").arg(state).arg(set).query_async(&mut self.conn.clone()).await.map_err(fail)?;
        Ok(())
    }
}
