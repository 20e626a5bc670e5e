//! Readers through the record cache see every committed change to an
//! account at once (follow counts both ways, profile edits), with two
//! readers (two gateways) sharing one cache.

use cache::{MemorySharedState, SharedState};
use model::IdGenerator;
use std::sync::Arc;
use std::time::Duration;
use store::DbConfig;
use users::{CachedUsers, UsersApi, UsersService, account_records};

#[tokio::test]
async fn cached_accounts_follow_changes() {
    let dir = tempfile::tempdir().unwrap();
    let config = DbConfig::Sqlite { dir: dir.path().into() };
    let shared: Arc<dyn SharedState> = Arc::new(MemorySharedState::new());
    let records = || account_records(shared.clone(), Duration::from_secs(600));
    let svc = UsersService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap();
    let made = svc.import(&["ann".into(), "bob".into()], "a long password", &[]).await.unwrap();
    let (a, b) = (made[0].id, made[1].id);
    let owner: Arc<dyn UsersApi> = Arc::new(svc.with_records(records()));
    let (one, two) = (CachedUsers::new(owner.clone(), records()), CachedUsers::new(owner.clone(), records()));
    let counts = |accounts: Vec<users::AccountRecord>| {
        let mut c: Vec<_> = accounts.iter().map(|r| (r.id, r.followers_count, r.following_count)).collect();
        c.sort();
        c
    };
    assert_eq!(counts(one.accounts(&[a, b]).await.unwrap()), [(a, 0, 0), (b, 0, 0)]);
    assert!(shared.get_many(&[format!("rec:account:{}", a.get())]).await.unwrap()[0].is_some(), "cached");

    owner.follow(a, b).await.unwrap();
    assert_eq!(counts(two.accounts(&[a, b]).await.unwrap()), [(a, 0, 1), (b, 1, 0)]);
    owner.follow(a, b).await.unwrap();
    owner.follow(b, a).await.unwrap();
    assert_eq!(counts(one.accounts(&[b, a]).await.unwrap()), [(a, 1, 1), (b, 1, 1)]);
    owner.unfollow(a, b).await.unwrap();
    assert_eq!(counts(two.accounts(&[a, b]).await.unwrap()), [(a, 1, 0), (b, 0, 1)]);

    owner.update_profile(b, Some("Bob B.".into()), Some("hello".into()), None).await.unwrap();
    let bob = one.accounts(&[b]).await.unwrap().pop().unwrap();
    assert_eq!((bob.display_name.as_str(), bob.note.as_str()), ("Bob B.", "hello"));
}

/// Timeline filters read through the cache (every home read asks for
/// them) follow every block, mute, unmute, sweep, follow option and
/// unfollow at once, on both sides of a block.
#[tokio::test]
async fn cached_timeline_filters_follow_changes() {
    let dir = tempfile::tempdir().unwrap();
    let config = DbConfig::Sqlite { dir: dir.path().into() };
    let shared: Arc<dyn SharedState> = Arc::new(MemorySharedState::new());
    let records = || account_records(shared.clone(), Duration::from_secs(600));
    let svc = UsersService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap();
    let made = svc.import(&["ann".into(), "bob".into(), "cat".into()], "a long password", &[]).await.unwrap();
    let (a, b, c) = (made[0].id, made[1].id, made[2].id);
    let owner: Arc<dyn UsersApi> = Arc::new(svc.with_records(records()));
    let reader = CachedUsers::new(owner.clone(), records());
    assert!(reader.timeline_filters(a).await.unwrap().is_empty());
    assert!(reader.timeline_filters(b).await.unwrap().is_empty(), "cached empty");

    owner.block(a, b, true).await.unwrap();
    assert_eq!(reader.timeline_filters(a).await.unwrap().blocking, [b]);
    assert_eq!(reader.timeline_filters(b).await.unwrap().blocked_by, [a], "the blocked side too");
    owner.block(a, b, false).await.unwrap();
    assert!(reader.timeline_filters(b).await.unwrap().is_empty());

    owner.mute(a, c, true, Some(1)).await.unwrap();
    assert_eq!(reader.timeline_filters(a).await.unwrap().muting, [c]);
    owner.expire_mutes().await.unwrap();
    assert!(reader.timeline_filters(a).await.unwrap().muting.is_empty(), "swept");
    owner.mute(a, c, true, None).await.unwrap();
    owner.unmute(a, c).await.unwrap();
    assert!(reader.timeline_filters(a).await.unwrap().muting.is_empty());

    owner.follow(a, c).await.unwrap();
    owner.set_follow_options(a, c, users::FollowOptions { reblogs: Some(false), notify: None }).await.unwrap();
    assert_eq!(reader.timeline_filters(a).await.unwrap().hiding_reblogs, [c]);
    owner.unfollow(a, c).await.unwrap();
    assert!(reader.timeline_filters(a).await.unwrap().hiding_reblogs.is_empty(), "gone with the follow");
}
