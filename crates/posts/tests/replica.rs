//! With a read replica configured, lag-tolerant reads (lists, counts) go to
//! it and everything else to the primary. The "replica" here is a second
//! database that receives no writes, so where each read went is visible.

use model::{IdGenerator, Page, PostText};
use posts::{NewPost, PostsApi, PostsService};
use std::sync::Arc;
use store::DbConfig;

#[tokio::test]
async fn lag_tolerant_reads_go_to_the_replica_and_the_rest_to_the_primary() {
    let primary = testdb::TestDatabase::create().await;
    let replica = testdb::TestDatabase::create().await;
    let ids = Arc::new(IdGenerator::new(3));
    // The replica has the schema (a real one would replicate it).
    PostsService::open(&replica.config(), ids.clone()).await.unwrap();
    let config =
        DbConfig::Postgres { url: primary.url.clone(), read_url: Some(replica.url.clone()), max_connections: 4 };
    let posts = PostsService::open(&config, ids).await.unwrap();
    let post = posts
        .create(NewPost::public(model::Id::from_i64(7), PostText::parse("written to the primary", 500).unwrap()))
        .await
        .unwrap();
    // Read-your-writes paths use the primary.
    assert_eq!(posts.get(post.id).await.unwrap().map(|p| p.id), Some(post.id));
    assert_eq!(posts.get_many(&[post.id]).await.unwrap().len(), 1);
    // Lists and counts come from the replica, which has not seen the write.
    assert!(posts.public(&Page::first(20)).await.unwrap().is_empty());
    assert_eq!(posts.post_count().await.unwrap(), 0);
    primary.drop().await;
    replica.drop().await;
}
