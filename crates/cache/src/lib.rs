//! The timeline cache port: per-account home timelines of post ids.
//!
//! A timeline is *derived* data. It may be absent (never built, evicted, or
//! lost with the process) and is then rebuilt from `posts` and `users` by the
//! timelines component. To make that rebuild race-free against concurrent
//! fan-out, a timeline has two states:
//!
//! * absent: fan-out skips it (there is nothing to append to);
//! * present but not ready: created by [`TimelineCache::begin_rebuild`]
//!   *before* the rebuild reads its sources, so any post committed after the
//!   rebuild's read is appended by fan-out, and any post committed before is
//!   seen by the read;
//! * ready: [`TimelineCache::finish_rebuild`] merged the rebuilt entries.
//!
//! Every operation is idempotent (set semantics), which is what makes
//! at-least-once event delivery safe.
//!
//! A timeline holds every entry of its sources from its oldest entry up
//! (everything, if it ends with [`Entry::END`]). Trims take the oldest
//! entries and fan-out adds the newest, so neither leaves a hole; adding
//! *older* entries goes through [`TimelineCache::backfill`], which keeps it
//! so. Readers rely on it: a page that reaches the oldest entry continues
//! in the store, below it.
#![forbid(unsafe_code)]

/// The contract every adapter passes, for the adapters' tests (feature
/// `contract`); not part of the production library.
#[cfg(any(test, feature = "contract"))]
pub mod contract;
mod memory;
pub mod records;
mod redis_cache;
pub mod shared;

pub use memory::MemoryTimelineCache;
pub use records::{RecordCache, RecordMetrics, VersionedValues};
pub use redis_cache::{RedisConnection, RedisTimelineCache};
pub use shared::{MemorySharedState, RedisSharedState, SharedState};

use async_trait::async_trait;
use model::{Id, Page};

/// `[cache]`: the timeline cache and shared state, in memory (all-in-one)
/// or Redis.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// One URL for a single node; any number of a Cluster's nodes with
    /// `cluster = true`. Empty: the in-process cache.
    pub redis_urls: Vec<String>,
    pub cluster: bool,
    /// Prepended to every key, to share a Redis between deployments.
    pub key_prefix: String,
    pub timeout_ms: u64,
    /// How long a cached post, account or author counter is kept after it
    /// was last written (readers fill it, its owner rewrites it on every
    /// change). 0 turns the record cache off: every read goes to the owner.
    pub record_ttl_secs: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            redis_urls: vec![],
            cluster: false,
            key_prefix: "aviary:".into(),
            timeout_ms: 2000,
            record_ttl_secs: 600,
        }
    }
}

/// One timeline entry. The author is kept so that an unfollow can remove an
/// author's posts without asking `posts` which ones they were; a boost
/// keeps the post it boosts and that post's author, so a reader can hide a
/// boost whose original is close below it (Mastodon's `REBLOG_FALLOFF`),
/// or whose original's author it blocked or muted, without loading posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub post_id: Id,
    /// The author of the post, or the booster of a boost.
    pub author_id: Id,
    /// The boosted post, when this entry is a boost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reblog_of: Option<Id>,
    /// The boosted post's author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reblog_author: Option<Id>,
}

impl Entry {
    /// Marks the bottom of a timeline that holds everything its sources
    /// have: nothing older exists. It sorts below every post (id 0), so the
    /// first trim at the cap removes it, and a list that lost entries to
    /// the cap is no longer marked complete. Adapters store it as any other
    /// entry; `timelines` writes it and strips it from what it returns.
    pub const END: Entry = Entry::post(Id::from_i64(0), Id::from_i64(0));

    /// An entry for a post of `author_id` (not a boost).
    pub const fn post(post_id: Id, author_id: Id) -> Entry {
        Entry { post_id, author_id, reblog_of: None, reblog_author: None }
    }

    /// An entry for `booster`'s boost `post_id` of `original` by `original_author`.
    pub const fn boost(post_id: Id, booster: Id, original: Id, original_author: Id) -> Entry {
        Entry { post_id, author_id: booster, reblog_of: Some(original), reblog_author: Some(original_author) }
    }

    /// The post this entry shows: the boosted one for a boost.
    pub fn shown(&self) -> Id {
        self.reblog_of.unwrap_or(self.post_id)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("timeline cache unavailable: {0}")]
pub struct CacheError(pub String);

pub type Result<T> = std::result::Result<T, CacheError>;

/// How long a timeline stays cached without being read (7 days).
pub const DEFAULT_IDLE_EXPIRY: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Timelines expire when not read for the adapter's idle time (reads and
/// rebuilds renew it, fan-out does not): an inactive account's timeline
/// leaves the cache, fan-out (which writes only to present timelines) stops
/// reaching it, and its next read rebuilds it.
#[async_trait]
pub trait TimelineCache: Send + Sync + 'static {
    /// Whether `owner`'s timeline exists and finished its last rebuild.
    async fn is_ready(&self, owner: Id) -> Result<bool>;
    /// Creates `owner`'s timeline if absent, in the not-ready state.
    async fn begin_rebuild(&self, owner: Id) -> Result<()>;
    /// Merges `entries` into the timeline, trims it and marks it ready —
    /// only if the timeline is still present. If it was evicted or flushed
    /// since `begin_rebuild`, posts fanned out meanwhile were skipped, so
    /// marking it ready would hide them: it stays absent and the call
    /// returns `false`.
    async fn finish_rebuild(&self, owner: Id, entries: &[Entry]) -> Result<bool>;
    /// Adds entries to each owner's timeline that exists; absent ones are
    /// skipped (they will be rebuilt on read). Trims to the cap.
    async fn insert(&self, owners: &[Id], entries: &[Entry]) -> Result<()>;
    /// Adds entries that may be older than what `owner`'s timeline holds
    /// (a follow copying the followee's posts), keeping the timeline free
    /// of holes, in one atomic step: entries below the timeline's oldest
    /// entry are dropped unless it ends with [`Entry::END`]; `floor`, when
    /// the entries are only the newest part of their source, is where they
    /// stop being complete, so the timeline keeps nothing below it (and
    /// loses its end marker). An absent timeline is skipped. A timeline
    /// being rebuilt is evicted instead: the rebuild may have read the
    /// sources before these entries existed, and cannot tell where they
    /// fit; its `finish_rebuild` then reports it lost, and the next read
    /// rebuilds. Trims to the cap.
    async fn backfill(&self, owner: Id, entries: &[Entry], floor: Option<Id>) -> Result<()>;
    /// Removes the given posts from each owner's timeline.
    async fn remove_posts(&self, owners: &[Id], post_ids: &[Id]) -> Result<()>;
    /// Removes every entry by `author` from `owner`'s timeline.
    async fn remove_author(&self, owner: Id, author: Id) -> Result<()>;
    /// One page, newest first.
    async fn page(&self, owner: Id, page: &Page) -> Result<Vec<Entry>>;
    /// Number of entries held for `owner` (0 when absent).
    async fn len(&self, owner: Id) -> Result<usize>;
    /// Forgets `owner`'s timeline entirely.
    async fn evict(&self, owner: Id) -> Result<()>;
}
