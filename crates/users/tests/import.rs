//! Bulk import writes what the service would: accounts that log in,
//! follows with their counts, and working tokens, on both engines.

use model::{Id, IdGenerator, Page};
use std::sync::Arc;
use store::DbConfig;
use users::{UsersApi, UsersService};

async fn imports_accounts_follows_and_tokens(config: DbConfig) {
    let users = UsersService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap();
    let names: Vec<String> = (0..1500).map(|i| format!("imported{i}")).collect();
    // Everyone follows account 0; 1 follows 2 (more rows than one batch).
    let mut follows: Vec<(usize, usize)> = (1..1500).map(|i| (i, 0)).collect();
    follows.push((1, 2));
    let imported = users.import(&names, "a long password", &follows).await.unwrap();
    assert_eq!(imported.len(), 1500);
    assert_eq!(users.account_count().await.unwrap(), 1500);

    let star = &imported[0];
    let record = users.accounts(&[star.id]).await.unwrap().pop().unwrap();
    assert_eq!((record.followers_count, record.following_count), (1499, 0));
    let one = users.accounts(&[imported[1].id]).await.unwrap().pop().unwrap();
    assert_eq!((one.followers_count, one.following_count), (0, 2));
    assert_eq!(users.follower_ids(star.id).await.unwrap().len(), 1499);
    assert!(users.is_following(imported[1].id, imported[2].id).await.unwrap());
    assert_eq!(users.following(imported[1].id, &Page::first(40)).await.unwrap().len(), 2);

    let auth = users.authenticate(&imported[7].token).await.unwrap().expect("the token works");
    assert_eq!(auth.account_id, Some(imported[7].id));
    assert_eq!(users.check_password("imported9", "a long password").await.unwrap(), Some(imported[9].id));
    assert_eq!(users.lookup("imported1499").await.unwrap().map(|a| a.id), Some(imported[1499].id));
    assert!(imported.iter().all(|a| a.id > Id::from_i64(0)));
}

#[tokio::test]
async fn import_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    imports_accounts_follows_and_tokens(DbConfig::Sqlite { dir: dir.path().into() }).await;
}

#[tokio::test]
async fn import_on_postgres() {
    let db = testdb::TestDatabase::create().await;
    imports_accounts_follows_and_tokens(db.config()).await;
}
