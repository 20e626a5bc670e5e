//! The `timelines` component: home timelines, derived from `posts` and
//! `users` and held in the timeline cache.
//!
//! Writes are fan-out on write: each `post.created` adds the post to the
//! cached timelines of its author and the author's followers; follows
//! back-fill, unfollows and deletions remove. Reads page through the cache;
//! a timeline that is not in the cache (first read, eviction, restart with
//! an in-memory cache) is rebuilt from the sources before it is read, so
//! losing the cache loses nothing. See the `cache` crate for why the
//! rebuild cannot miss a post fanned out while it runs.
//!
//! Mastodon's rule for replies is kept: a reply to someone else reaches a
//! follower's home timeline only if that follower also follows the person
//! replied to. Self-replies (threads) reach every follower.
#![forbid(unsafe_code)]

mod handler;
mod remote;

pub use handler::TimelinesHandler;
pub use remote::{RemoteTimelines, internal_router};

use async_trait::async_trait;
use cache::{Entry, TimelineCache};
use model::{Id, Page, PageDirection};
use posts::{PostRef, PostsApi};
use std::collections::HashSet;
use std::sync::Arc;
use users::UsersApi;

#[derive(Debug, thiserror::Error)]
pub enum TimelinesError {
    #[error("timeline sources unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<cache::CacheError> for TimelinesError {
    fn from(e: cache::CacheError) -> Self {
        TimelinesError::Unavailable(e.to_string())
    }
}
impl From<users::UsersError> for TimelinesError {
    fn from(e: users::UsersError) -> Self {
        match e {
            users::UsersError::Unavailable(m) => TimelinesError::Unavailable(m),
            other => TimelinesError::Unexpected(other.into()),
        }
    }
}
impl From<posts::PostsError> for TimelinesError {
    fn from(e: posts::PostsError) -> Self {
        match e {
            posts::PostsError::Unavailable(m) => TimelinesError::Unavailable(m),
            other => TimelinesError::Unexpected(other.into()),
        }
    }
}

pub type Result<T> = std::result::Result<T, TimelinesError>;

#[async_trait]
pub trait TimelinesApi: Send + Sync + 'static {
    /// `account`'s home timeline page, newest first: post ids with their
    /// authors, so the caller can fetch posts and authors at once.
    async fn home(&self, account: Id, page: &Page) -> Result<Vec<Entry>>;
}

#[derive(Clone)]
pub struct TimelinesService {
    pub(crate) cache: Arc<dyn TimelineCache>,
    pub(crate) users: Arc<dyn UsersApi>,
    pub(crate) posts: Arc<dyn PostsApi>,
    /// Entries kept per timeline; also how many posts a rebuild loads.
    pub(crate) cap: usize,
}

impl TimelinesService {
    pub const COMPONENT: &'static str = "timelines";
    pub const DEFAULT_CAP: usize = 800;

    pub fn new(cache: Arc<dyn TimelineCache>, users: Arc<dyn UsersApi>, posts: Arc<dyn PostsApi>, cap: usize) -> Self {
        TimelinesService { cache, users, posts, cap }
    }

    async fn cached_page(&self, account: Id, page: &Page) -> Result<Vec<Entry>> {
        if !self.cache.is_ready(account).await? {
            let rebuilt = self.rebuild(account).await?;
            if !rebuilt.cached {
                // The cache lost the timeline mid-rebuild (a flush): answer
                // from what was just read; the next read rebuilds again.
                return Ok(page.apply_desc(&rebuilt.entries, |e| e.post_id));
            }
        }
        Ok(self.cache.page(account, page).await?)
    }

    /// Up to `want` home entries of `owner` below `below` (and above
    /// `above`), newest first, read from the follow graph and the posts
    /// with the same rule as fan-out — what the timeline would hold had it
    /// no cap.
    async fn past_the_cache(&self, owner: Id, below: Option<Id>, above: Option<Id>, want: usize) -> Result<Vec<Entry>> {
        let following: HashSet<Id> = self.users.following_ids(owner).await?.into_iter().collect();
        let mut authors: Vec<Id> = following.iter().copied().collect();
        authors.push(owner);
        let mut out = Vec::with_capacity(want);
        let mut cursor = below;
        loop {
            // Some posts are replies that do not reach the owner; ask for a
            // little more than is missing.
            let batch = ((want - out.len()) * 2 + 8).min(400);
            let posts = self.posts.recent_by_authors(&authors, cursor, batch).await?;
            let exhausted = posts.len() < batch;
            for p in posts {
                if above.is_some_and(|a| p.post_id <= a) {
                    return Ok(out);
                }
                cursor = Some(p.post_id);
                if reaches(owner, &p, |a| following.contains(&a)) {
                    out.push(Entry { post_id: p.post_id, author_id: p.author_id });
                    if out.len() == want {
                        return Ok(out);
                    }
                }
            }
            if exhausted {
                return Ok(out);
            }
        }
    }

    /// Rebuilds `owner`'s timeline from the follow graph and the posts and
    /// returns the entries, newest first. `cached` tells whether the cache
    /// kept them (it does not if the timeline was evicted or flushed while
    /// the rebuild ran; see `cache`).
    pub async fn rebuild(&self, owner: Id) -> Result<Rebuilt> {
        // Mark the timeline present *before* reading the sources, so fan-out
        // of any post committed after our read lands in it (see `cache`).
        self.cache.begin_rebuild(owner).await?;
        let following: HashSet<Id> = self.users.following_ids(owner).await?.into_iter().collect();
        let mut authors: Vec<Id> = following.iter().copied().collect();
        authors.push(owner);
        let recent = self.posts.recent_by_authors(&authors, None, self.cap).await?;
        let entries: Vec<Entry> = recent
            .into_iter()
            .filter(|p| reaches(owner, p, |a| following.contains(&a)))
            .map(|p| Entry { post_id: p.post_id, author_id: p.author_id })
            .collect();
        let cached = self.cache.finish_rebuild(owner, &entries).await?;
        tracing::debug!(%owner, entries = entries.len(), cached, "home timeline rebuilt");
        Ok(Rebuilt { entries, cached })
    }
}

pub struct Rebuilt {
    /// Newest first.
    pub entries: Vec<Entry>,
    pub cached: bool,
}

/// Whether post `p` belongs in `owner`'s home timeline, given that `owner`
/// follows `p`'s author (or is the author): everything except replies to
/// a third party the owner does not follow.
pub(crate) fn reaches(owner: Id, p: &PostRef, follows: impl Fn(Id) -> bool) -> bool {
    match p.in_reply_to_account_id {
        None => true,
        Some(r) => r == p.author_id || r == owner || p.author_id == owner || follows(r),
    }
}

#[async_trait]
impl TimelinesApi for TimelinesService {
    async fn home(&self, account: Id, page: &Page) -> Result<Vec<Entry>> {
        let mut entries = self.cached_page(account, page).await?;
        // The cache keeps the newest `cap` entries. A page that runs out in
        // it goes on in the store, so scrolling back never hits a wall.
        if page.direction() == PageDirection::Descending && entries.len() < page.limit {
            let below = entries.last().map(|e| e.post_id).or(page.max_id);
            let older = self.past_the_cache(account, below, page.lower(), page.limit - entries.len()).await?;
            entries.extend(older);
        }
        Ok(entries)
    }
}
