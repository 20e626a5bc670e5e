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
    /// A viewer's marks on a page's posts, keyed by the viewer's marks
    /// version and the posts (see [`CachedPosts::viewer_marks`]).
    viewer_pages: VersionedValues<ViewerMarks>,
    /// Where the marks versions live, and how long.
    shared: Arc<dyn SharedState>,
    ttl: Duration,
}

impl PostsRecords {
    pub fn new(shared: Arc<dyn SharedState>, ttl: Duration) -> Self {
        PostsRecords {
            posts: RecordCache::new(shared.clone(), "post", ttl, |p: &PostRecord| p.id),
            stats: RecordCache::new(shared.clone(), "author_stats", ttl, |s: &AuthorStats| s.author_id),
            first_pages: VersionedValues::new(shared.clone(), "author_page", ttl),
            viewer_pages: VersionedValues::new(shared.clone(), "viewer_marks", ttl),
            shared,
            ttl,
        }
    }

    fn marks_version_key(viewer: Id) -> String {
        format!("viewer_marks_version:{}", viewer.get())
    }

    /// After a commit that changed what `viewer` marked or boosted: a new
    /// version (`fresh`, never used before), so no page of its marks
    /// cached before is read again.
    pub(crate) async fn marks_changed(&self, viewer: Id, fresh: Id) {
        let key = Self::marks_version_key(viewer);
        if let Err(e) = self.shared.set(&key, fresh.get().to_string().as_bytes(), self.ttl).await {
            tracing::error!(%viewer, error = %e, "cannot renew a viewer's marks version; its pages may show old marks until they expire");
        }
    }

    /// The version `viewer`'s marks are cached under (`0` while none is
    /// kept: a version written later differs); `None` when the cache fails.
    async fn marks_version(&self, viewer: Id) -> Option<String> {
        match self.shared.get(&Self::marks_version_key(viewer)).await {
            Ok(v) => Some(v.map_or_else(|| "0".to_string(), |b| String::from_utf8_lossy(&b).into_owned())),
            Err(e) => {
                tracing::warn!(%viewer, error = %e, "marks version unavailable; reading the marks from posts");
                None
            }
        }
    }

    /// Counts the lookups of readers using these records.
    pub fn with_metrics(self, metrics: cache::RecordMetrics) -> Self {
        PostsRecords {
            posts: self.posts.with_metrics(metrics.clone()),
            stats: self.stats.with_metrics(metrics.clone()),
            first_pages: self.first_pages.with_metrics(metrics.clone()),
            viewer_pages: self.viewer_pages.with_metrics(metrics),
            shared: self.shared,
            ttl: self.ttl,
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
    async fn viewer_marks(&self, viewer: Id, posts: &[Id]) -> Result<ViewerMarks> {
        // A page's marks are read on every timeline page, and the same
        // pages come back (clients poll their first page): cached under
        // the viewer's marks version, which `posts` renews after every
        // change the viewer makes, and the page's posts. A new post or a
        // new mark is a new key; a stale one is never read again.
        let Some(version) = self.records.marks_version(viewer).await else {
            return self.inner.viewer_marks(viewer, posts).await;
        };
        let ids: Vec<String> = posts.iter().map(|p| p.get().to_string()).collect();
        let key = format!("{}:{version}:{}", viewer.get(), ids.join(","));
        let inner = &self.inner;
        self.records.viewer_pages.read_through(&key, || inner.viewer_marks(viewer, posts)).await
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
