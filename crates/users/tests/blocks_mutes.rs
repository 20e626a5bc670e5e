//! Blocks, mutes and follow options on both engines: a block ends follows
//! and requests both ways and refuses new follows, once per pair with an
//! event per change; mutes carry their terms, are listed while they last
//! and are swept when their time ran out (one `mute.removed` each, however
//! many sweep); the filters timelines read and the accounts fan-out skips
//! say exactly that; `reblogs` and `notify` on a follow, kept through a
//! request.

use model::time_fmt::now_millis;
use model::{Email, Id, IdGenerator, Page, Password, Username};
use std::sync::Arc;
use store::DbConfig;
use users::{FollowOptions, SignUp, UsersApi, UsersError, UsersService};

async fn sign_up(users: &UsersService, name: &str) -> Id {
    users
        .sign_up(SignUp {
            username: Username::parse(name).unwrap(),
            email: Email::parse(&format!("{name}@example.org")).unwrap(),
            password: Password::parse("correct horse battery").unwrap(),
        })
        .await
        .unwrap()
        .id
}

/// The outbox's events among block, mute and follow changes, in order.
async fn events(users: &UsersService) -> Vec<String> {
    use sqlx::Row;
    let rows = sqlx::query("SELECT envelope FROM outbox ORDER BY seq").fetch_all(&users.db().pool).await.unwrap();
    rows.iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.get::<String, _>(0)).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .filter(|k| k.starts_with("block.") || k.starts_with("mute.") || k == "follow.removed" || k == "follow.updated")
        .collect()
}

async fn blocks_and_mutes(config: DbConfig) {
    let users = UsersService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap();
    let (ann, ben, cat) = (sign_up(&users, "ann").await, sign_up(&users, "ben").await, sign_up(&users, "cat").await);
    users.follow(ann, ben).await.unwrap();
    users.follow(ben, ann).await.unwrap();
    for _ in 0..2 {
        let r = users.block(ann, ben, true).await.unwrap();
        assert!(r.blocking && !r.following && !r.followed_by, "{r:?}");
    }
    assert!(users.relationships(ben, &[ann]).await.unwrap()[0].blocked_by);
    assert_eq!(users.accounts(&[ann]).await.unwrap()[0].followers_count, 0, "the follows ended with their counters");
    assert!(matches!(users.follow(ben, ann).await, Err(UsersError::Forbidden(_))), "the blocked cannot follow");
    assert!(matches!(users.follow(ann, ben).await, Err(UsersError::Forbidden(_))), "nor the blocker");
    assert!(matches!(users.block(ann, ann, true).await, Err(UsersError::Validation(_))));
    assert!(matches!(users.block(ann, Id::from_i64(999), true).await, Err(UsersError::NotFound)));
    users.block(ann, cat, true).await.unwrap();
    let listed = users.blocks(ann, &Page::first(1)).await.unwrap();
    assert_eq!(listed.iter().map(|e| e.account_id).collect::<Vec<_>>(), [cat], "newest first");
    let rest = users.blocks(ann, &Page { max_id: Some(listed[0].follow_id), ..Page::first(5) }).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.account_id).collect::<Vec<_>>(), [ben]);

    // Mutes: terms kept and updated, listed while they last.
    let r = users.mute(ben, cat, false, None).await.unwrap();
    assert!(r.muting && !r.muting_notifications, "{r:?}");
    let r = users.mute(ben, cat, true, Some(now_millis() + 3_600_000)).await.unwrap();
    assert!(r.muting && r.muting_notifications, "muting again updates the terms: {r:?}");
    assert!(matches!(users.mute(ben, ben, true, None).await, Err(UsersError::Validation(_))));
    users.mute(ben, ann, true, Some(1)).await.unwrap(); // ran out long ago
    let muted = users.mutes(ben, &Page::first(10)).await.unwrap();
    assert_eq!(muted.iter().map(|m| m.account_id).collect::<Vec<_>>(), [cat], "a mute that ran out is not listed");
    assert!(muted[0].expires_at_ms.is_some());
    assert!(!users.relationships(ben, &[ann]).await.unwrap()[0].muting);

    // What timelines read, and whom fan-out skips; an ended mute holds
    // until swept, so timelines and the sweep's event agree.
    let f = users.timeline_filters(ben).await.unwrap();
    assert_eq!((f.blocked_by.clone(), f.blocking.clone()), (vec![ann], vec![]));
    let mut muting = f.muting.clone();
    muting.sort();
    let mut want = vec![ann, cat];
    want.sort();
    assert_eq!(muting, want);
    let mut unreached = users.unreached(cat, None).await.unwrap();
    unreached.sort();
    let mut blocker_and_muter = vec![ann, ben];
    blocker_and_muter.sort();
    assert_eq!(unreached, blocker_and_muter, "cat's posts reach neither its blocker nor its muter");
    let sweeps = tokio::join!(users.expire_mutes(), users.expire_mutes(), users.expire_mutes(), users.expire_mutes());
    let ended = [sweeps.0, sweeps.1, sweeps.2, sweeps.3].into_iter().map(|n| n.unwrap()).sum::<u64>();
    assert_eq!(ended, 1, "one mute ran out, ended once");
    assert_eq!(users.timeline_filters(ben).await.unwrap().muting, [cat]);
    users.unmute(ben, cat).await.unwrap();
    users.unmute(ben, cat).await.unwrap();
    assert!(users.timeline_filters(ben).await.unwrap().muting.is_empty());

    // Unblocking lets follows happen again; options travel with them.
    users.block(ann, ben, false).await.unwrap();
    let r = users.follow(ben, ann).await.unwrap();
    assert!(r.following && r.showing_reblogs && !r.notifying, "{r:?}");
    let options = FollowOptions { reblogs: Some(false), notify: Some(true) };
    for _ in 0..2 {
        let r = users.set_follow_options(ben, ann, options).await.unwrap();
        assert!(!r.showing_reblogs && r.notifying, "{r:?}");
    }
    assert_eq!(users.timeline_filters(ben).await.unwrap().hiding_reblogs, [ann]);
    let boost_of_cat = users.unreached(ann, Some(cat)).await.unwrap();
    assert!(boost_of_cat.contains(&ben), "ben hides ann's boosts: {boost_of_cat:?}");
    assert!(!users.unreached(ann, None).await.unwrap().contains(&ben), "but not her posts");
    // A locked account's request keeps what was asked until authorized.
    users.update_profile(cat, None, None, Some(true)).await.unwrap();
    users.block(ann, cat, false).await.unwrap();
    users.follow(ann, cat).await.unwrap();
    users.set_follow_options(ann, cat, FollowOptions { reblogs: Some(false), notify: None }).await.unwrap();
    let r = users.answer_follow_request(cat, ann, true).await.unwrap();
    assert!(r.followed_by);
    let r = users.relationships(ann, &[cat]).await.unwrap()[0];
    assert!(r.following && !r.showing_reblogs, "{r:?}");

    assert_eq!(
        events(&users).await,
        [
            "follow.removed",
            "follow.removed",
            "block.created",
            "block.created",
            "mute.created",
            "mute.created",
            "mute.removed",
            "mute.removed",
            "block.removed",
            "follow.updated",
            "block.removed",
        ],
        "an event per change, none for repeats"
    );
}

#[tokio::test]
async fn blocks_and_mutes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    blocks_and_mutes(DbConfig::Sqlite { dir: dir.path().into() }).await;
}

#[tokio::test]
async fn blocks_and_mutes_on_postgres() {
    let db = testdb::TestDatabase::create().await;
    blocks_and_mutes(db.config()).await;
    db.drop().await;
}
