//! Favourites on both engines: once per account and post, counted on the
//! post (also for readers through the record cache), paged newest first,
//! looked up per page, an event per change, and gone with their post.

use cache::{MemorySharedState, SharedState};
use model::{Id, IdGenerator, Page, PostText};
use posts::{CachedPosts, NewPost, PostsApi, PostsRecords, PostsService};
use std::sync::Arc;
use std::time::Duration;
use store::DbConfig;

async fn outbox_kinds(svc: &PostsService) -> Vec<String> {
    use sqlx::Row;
    let rows = sqlx::query("SELECT envelope FROM outbox ORDER BY seq").fetch_all(&svc.db().pool).await.unwrap();
    rows.iter()
        .map(|r| {
            let envelope: serde_json::Value = serde_json::from_str(&r.get::<String, _>(0)).unwrap();
            envelope["type"].as_str().unwrap_or_default().to_string()
        })
        .filter(|k| k.starts_with("favourite."))
        .collect()
}

async fn favourites_count_once_and_page(config: DbConfig) {
    let shared: Arc<dyn SharedState> = Arc::new(MemorySharedState::new());
    let records = || PostsRecords::new(shared.clone(), Duration::from_secs(600));
    let svc = PostsService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap().with_records(records());
    let owner: Arc<dyn PostsApi> = Arc::new(svc.clone());
    let reader = CachedPosts::new(owner.clone(), records());
    let (author, fan, other) = (Id::from_i64(1), Id::from_i64(2), Id::from_i64(3));
    let mut posts = Vec::new();
    for i in 0..3 {
        posts.push(
            owner.create(NewPost::public(author, PostText::parse(&format!("p{i}"), 500).unwrap())).await.unwrap(),
        );
    }
    // The reader has the first post cached before it is favourited.
    assert_eq!(reader.get(posts[0].id).await.unwrap().unwrap().favourites_count, 0);

    for _ in 0..2 {
        assert_eq!(owner.favourite(fan, posts[0].id).await.unwrap().favourites_count, 1, "again is a no-op");
    }
    owner.favourite(other, posts[0].id).await.unwrap();
    owner.favourite(fan, posts[2].id).await.unwrap();
    owner.favourite(fan, posts[1].id).await.unwrap();
    assert_eq!(reader.get(posts[0].id).await.unwrap().unwrap().favourites_count, 2, "the cached count is current");

    // Newest favourite first: posts 1, 2, 0 (in the order favourited).
    let mine = owner.favourites(fan, &Page::first(2)).await.unwrap();
    assert_eq!(mine.iter().map(|f| f.post_id).collect::<Vec<_>>(), [posts[1].id, posts[2].id]);
    let next = Page { max_id: Some(mine[1].id), ..Page::first(2) };
    let rest = owner.favourites(fan, &next).await.unwrap();
    assert_eq!(rest.iter().map(|f| f.post_id).collect::<Vec<_>>(), [posts[0].id]);
    let back = Page { min_id: Some(rest[0].id), ..Page::first(1) };
    assert_eq!(owner.favourites(fan, &back).await.unwrap()[0].post_id, posts[2].id);
    let by = owner.favourited_by(posts[0].id, &Page::first(10)).await.unwrap();
    assert_eq!(by.iter().map(|f| f.account_id).collect::<Vec<_>>(), [other, fan]);

    let mut among = owner.favourited_among(other, &[posts[0].id, posts[1].id, Id::from_i64(999)]).await.unwrap();
    among.sort();
    assert_eq!(among, [posts[0].id]);
    assert!(owner.favourited_among(other, &[]).await.unwrap().is_empty());

    for _ in 0..2 {
        assert_eq!(owner.unfavourite(other, posts[0].id).await.unwrap().favourites_count, 1, "again is a no-op");
    }
    assert!(matches!(owner.favourite(fan, Id::from_i64(999)).await, Err(posts::PostsError::NotFound)));
    // Each change once: four favourites and one removal.
    assert_eq!(
        outbox_kinds(&svc).await,
        ["favourite.created", "favourite.created", "favourite.created", "favourite.created", "favourite.removed"]
    );

    // Deleting a post takes its favourites with it.
    owner.delete(posts[0].id, author).await.unwrap();
    let left = owner.favourites(fan, &Page::first(10)).await.unwrap();
    assert_eq!(left.iter().map(|f| f.post_id).collect::<Vec<_>>(), [posts[1].id, posts[2].id]);
}

#[tokio::test]
async fn favourites_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    favourites_count_once_and_page(DbConfig::Sqlite { dir: dir.path().into() }).await;
}

#[tokio::test]
async fn favourites_on_postgres() {
    let db = testdb::TestDatabase::create().await;
    favourites_count_once_and_page(db.config()).await;
    db.drop().await;
}
