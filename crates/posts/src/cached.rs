//! Posts and author counters served from the record cache
//! ([`cache::records`]): [`CachedPosts`] wraps any [`PostsApi`] (the local
//! service or the remote client) for readers; [`PostsService`] keeps the
//! cache current when it changes what a cached record says.

use crate::service::newest_first;
use crate::*;
use async_trait::async_trait;
use cache::{RecordCache, SharedState, VersionedValues};
use model::{Id, Page};
use std::time::Duration;

/// The records of `posts` that readers cache, and the rules for keeping
/// them current: a post changes when it is deleted or replied to (its
/// `replies_count`), an author's counters when they post or delete.
#[derive(Clone)]
pub struct PostsRecords {
    posts: RecordCache<PostRecord>,
    stats: RecordCache<AuthorStats>,
    /// The ids of authors' first pages of statuses, keyed by the author's
    /// counters (see [`CachedPosts::by_author`]).
    first_pages: VersionedValues<Vec<Id>>,
}

impl PostsRecords {
    pub fn new(shared: Arc<dyn SharedState>, ttl: Duration) -> Self {
        PostsRecords {
            posts: RecordCache::new(shared.clone(), "post", ttl, |p: &PostRecord| p.id),
            stats: RecordCache::new(shared.clone(), "author_stats", ttl, |s: &AuthorStats| s.author_id),
            first_pages: VersionedValues::new(shared, "author_page", ttl),
        }
    }

    /// Counts the lookups of readers using these records.
    pub fn with_metrics(self, metrics: cache::RecordMetrics) -> Self {
        PostsRecords {
            posts: self.posts.with_metrics(metrics.clone()),
            stats: self.stats.with_metrics(metrics.clone()),
            first_pages: self.first_pages.with_metrics(metrics),
        }
    }

    /// After a commit that created or changed `posts` and changed `authors`' counters.
    pub(crate) async fn changed(&self, posts: &[PostRecord], stats: &[AuthorStats]) {
        tokio::join!(self.posts.store(posts), self.stats.store(stats));
    }

    /// After a commit that deleted `post`.
    pub(crate) async fn deleted(&self, post: Id) {
        self.posts.forget(&[post]).await;
    }
}

/// [`PostsApi`] reading posts and author counters through the cache; every
/// other call goes to `inner` unchanged ([`ForwardPosts`]).
pub struct CachedPosts {
    inner: Arc<dyn PostsApi>,
    records: PostsRecords,
}

impl CachedPosts {
    pub fn new(inner: Arc<dyn PostsApi>, records: PostsRecords) -> Self {
        CachedPosts { inner, records }
    }
}

#[async_trait]
impl ForwardPosts for CachedPosts {
    fn forward_to(&self) -> &dyn PostsApi {
        &*self.inner
    }
    async fn get(&self, id: Id) -> Result<Option<PostRecord>> {
        Ok(ForwardPosts::get_many(self, &[id]).await?.pop())
    }
    async fn get_many(&self, ids: &[Id]) -> Result<Vec<PostRecord>> {
        let inner = &self.inner;
        Ok(newest_first(
            self.records.posts.read_through(ids, |missing| async move { inner.get_many(&missing).await }).await?,
        ))
    }
    async fn by_author(&self, author: Id, filter: AuthorFilter, page: &Page) -> Result<Vec<PostRecord>> {
        // Ids from the owner's index, records from the cache: the query
        // reads no post's text. A first page's ids are cached too, under a
        // key naming the author's post count and last post time: any post
        // or deletion by the author changes those counters (kept current
        // by `posts` itself), so a changed page is a new key and the old
        // one is never read again. Later pages (cursors) always query.
        let first_page = page.max_id.is_none() && page.since_id.is_none() && page.min_id.is_none();
        let ids = if first_page {
            let stats = ForwardPosts::author_stats(self, &[author]).await?;
            let (count, last) = stats.first().map_or((0, None), |s| (s.statuses_count, s.last_status_at_ms));
            let version = format!("{}:{}:{}:{count}:{}", author.get(), filter.key(), page.limit, last.unwrap_or(0));
            let inner = &self.inner;
            self.records.first_pages.read_through(&version, || inner.by_author_ids(author, filter, page)).await?
        } else {
            self.inner.by_author_ids(author, filter, page).await?
        };
        ForwardPosts::get_many(self, &ids).await
    }
    async fn author_stats(&self, authors: &[Id]) -> Result<Vec<AuthorStats>> {
        let inner = &self.inner;
        self.records
            .stats
            .read_through(authors, |missing| async move {
                let mut stats = inner.author_stats(&missing).await?;
                // An author who never posted has no counters row: zero, and
                // cached as such (their first post stores the real ones).
                for id in missing {
                    if !stats.iter().any(|s| s.author_id == id) {
                        stats.push(AuthorStats { author_id: id, statuses_count: 0, last_status_at_ms: None });
                    }
                }
                Ok(stats)
            })
            .await
    }
}
