//! Readers through the record cache see every committed change at once:
//! replies counted on their parent, deletions, authors' counters — on both
//! engines, with two readers (two gateways) sharing one cache.

use cache::{MemorySharedState, SharedState};
use model::{Id, IdGenerator, Page, PostText};
use posts::{AuthorFilter, CachedPosts, NewPost, PostsApi, PostsRecords, PostsService};
use std::sync::Arc;
use std::time::Duration;
use store::DbConfig;

fn text(s: &str) -> PostText {
    PostText::parse(s, 500).unwrap()
}

async fn readers_see_every_change(config: DbConfig) {
    let shared: Arc<dyn SharedState> = Arc::new(MemorySharedState::new());
    let records = || PostsRecords::new(shared.clone(), Duration::from_secs(600));
    let svc = PostsService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap().with_records(records());
    let owner: Arc<dyn PostsApi> = Arc::new(svc);
    let (one, two) = (CachedPosts::new(owner.clone(), records()), CachedPosts::new(owner.clone(), records()));
    let (a, b) = (Id::from_i64(11), Id::from_i64(12));

    let first = owner.create(NewPost::public(a, text("first"))).await.unwrap();
    let stats = |s: Vec<posts::AuthorStats>, who: Id| s.iter().find(|s| s.author_id == who).map(|s| s.statuses_count);
    // Both readers fill the cache: b has no posts yet (counted as zero).
    assert_eq!(one.get_many(&[first.id]).await.unwrap(), std::slice::from_ref(&first));
    assert_eq!(stats(two.author_stats(&[a, b]).await.unwrap(), b), Some(0));
    let key = format!("rec:post:{}", first.id.get());
    assert!(shared.get_many(&[key]).await.unwrap()[0].is_some(), "the post is cached");

    let mut reply = NewPost::public(b, text("a reply"));
    reply.in_reply_to_id = Some(first.id);
    let reply = owner.create(reply).await.unwrap();
    assert_eq!(two.get(first.id).await.unwrap().unwrap().replies_count, 1, "the parent's count is current");
    assert_eq!(one.get(reply.id).await.unwrap().as_ref(), Some(&reply));
    let s = one.author_stats(&[a, b]).await.unwrap();
    assert_eq!((stats(s.clone(), a), stats(s, b)), (Some(1), Some(1)));
    owner.create(NewPost::public(a, text("second"))).await.unwrap();
    assert_eq!(stats(two.author_stats(&[a]).await.unwrap(), a), Some(2));

    // Lists: ids from the owner, records from the cache, in the owner's order.
    for page in [Page::first(10), Page::first(1), Page { min_id: Some(first.id), ..Page::first(10) }] {
        for (private, no_replies) in [(false, false), (true, true)] {
            let filter = AuthorFilter {
                include_private: private,
                exclude_replies: no_replies,
                exclude_reblogs: false,
                ..AuthorFilter::default()
            };
            let cached = one.by_author(a, filter.clone(), &page).await.unwrap();
            assert_eq!(cached, owner.by_author(a, filter, &page).await.unwrap(), "{page:?}");
        }
    }
    assert_eq!(two.by_author(b, AuthorFilter::default(), &Page::first(5)).await.unwrap(), std::slice::from_ref(&reply));

    // A first page is cached, and a post or a deletion shows at once.
    let before = one.by_author(a, AuthorFilter::default(), &Page::first(3)).await.unwrap();
    let third = owner.create(NewPost::public(a, text("third"))).await.unwrap();
    let after = two.by_author(a, AuthorFilter::default(), &Page::first(3)).await.unwrap();
    assert_eq!(after[0], third, "a new post heads the cached first page");
    assert_eq!(after[1..], before[..2]);
    owner.delete(third.id, a).await.unwrap();
    assert_eq!(
        one.by_author(a, AuthorFilter::default(), &Page::first(3)).await.unwrap(),
        before,
        "and leaves it when deleted"
    );

    owner.delete(reply.id, b).await.unwrap();
    assert!(two.by_author(b, AuthorFilter::default(), &Page::first(5)).await.unwrap().is_empty());
    assert_eq!(one.get_many(&[reply.id, first.id]).await.unwrap().len(), 1, "the deleted post is gone");
    assert_eq!(two.get(reply.id).await.unwrap(), None);
    assert_eq!(one.get(first.id).await.unwrap().unwrap().replies_count, 0);
    assert_eq!(stats(two.author_stats(&[b]).await.unwrap(), b), Some(0));
}

#[tokio::test]
async fn cached_reads_follow_changes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    readers_see_every_change(DbConfig::Sqlite { dir: dir.path().into() }).await;
}

#[tokio::test]
async fn cached_reads_follow_changes_on_postgres() {
    let db = testdb::TestDatabase::create().await;
    readers_see_every_change(db.config()).await;
}
