//! Bulk import of posts: readable in order, counted per author, on both
//! engines.

use model::{Id, IdGenerator, Page};
use posts::{PostsApi, PostsService};
use std::sync::Arc;
use store::DbConfig;

async fn imports_posts_in_order_with_counters(config: DbConfig) {
    let posts = PostsService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap();
    let (a, b) = (Id::from_i64(1001), Id::from_i64(1002));
    let rows: Vec<(Id, String)> = (0..7000).map(|i| (if i % 2 == 0 { a } else { b }, format!("post {i}"))).collect();
    let ids = posts.import(&rows).await.unwrap();
    assert_eq!(ids.len(), 7000);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids follow the given order");
    let newest = posts.recent_by_authors(&[a, b], None, 3).await.unwrap();
    assert_eq!(newest.iter().map(|p| p.post_id).collect::<Vec<_>>(), vec![ids[6999], ids[6998], ids[6997]]);
    let p = posts.get(ids[10]).await.unwrap().expect("imported post");
    assert_eq!((p.author_id, p.text.as_str()), (a, "post 10"));
    let page = posts.by_author(b, posts::AuthorFilter::default(), &Page::first(2)).await.unwrap();
    assert_eq!(page.len(), 2);
    // A second import adds to the counters.
    posts.import(&[(a, "one more".into())]).await.unwrap();
    let stats = posts.author_stats(&[a, b]).await.unwrap();
    let count = |who: Id| stats.iter().find(|s| s.author_id == who).map(|s| s.statuses_count);
    assert_eq!((count(a), count(b)), (Some(3501), Some(3500)));
}

#[tokio::test]
async fn import_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    imports_posts_in_order_with_counters(DbConfig::Sqlite { dir: dir.path().into() }).await;
}

#[tokio::test]
async fn import_on_postgres() {
    let db = testdb::TestDatabase::create().await;
    imports_posts_in_order_with_counters(db.config()).await;
}
