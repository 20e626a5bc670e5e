//! Locked accounts on both engines: a follow becomes a request, which the
//! account authorizes (a follow with its counters and event) or rejects;
//! repeating changes nothing; unfollowing withdraws a waiting request.

use model::{Email, Id, IdGenerator, Page, Password, Username};
use std::sync::Arc;
use store::DbConfig;
use users::{SignUp, UsersApi, UsersError, UsersService};

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

async fn event_kinds(users: &UsersService) -> Vec<String> {
    use sqlx::Row;
    let rows = sqlx::query("SELECT envelope FROM outbox ORDER BY seq").fetch_all(&users.db().pool).await.unwrap();
    rows.iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.get::<String, _>(0)).unwrap()["type"].to_string())
        .filter(|k| k.contains("follow"))
        .collect()
}

async fn follows_of_a_locked_account_wait_for_its_answer(config: DbConfig) {
    let users = UsersService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap();
    let (lock, ann, ben) = (sign_up(&users, "lock").await, sign_up(&users, "ann").await, sign_up(&users, "ben").await);
    assert!(users.update_profile(lock, None, None, Some(true)).await.unwrap().locked);
    for _ in 0..2 {
        let r = users.follow(ann, lock).await.unwrap();
        assert!(r.requested && !r.following, "{r:?}");
    }
    users.follow(ben, lock).await.unwrap();
    let waiting = users.follow_requests(lock, &Page::first(10)).await.unwrap();
    assert_eq!(waiting.iter().map(|e| e.account_id).collect::<Vec<_>>(), [ben, ann]);
    assert!(users.relationships(lock, &[ann]).await.unwrap()[0].requested_by);
    assert!(!users.is_following(ann, lock).await.unwrap());

    let r = users.answer_follow_request(lock, ann, true).await.unwrap();
    assert!(r.followed_by && !r.requested_by, "{r:?}");
    assert!(users.is_following(ann, lock).await.unwrap());
    assert_eq!(users.accounts(&[lock]).await.unwrap()[0].followers_count, 1);
    // Answered once: again is 404; following again changes nothing.
    assert!(matches!(users.answer_follow_request(lock, ann, true).await, Err(UsersError::NotFound)));
    assert!(users.follow(ann, lock).await.unwrap().following);
    users.answer_follow_request(lock, ben, false).await.unwrap();
    assert!(!users.is_following(ben, lock).await.unwrap());
    assert!(users.follow_requests(lock, &Page::first(10)).await.unwrap().is_empty());
    // Unfollowing withdraws a request still waiting.
    users.follow(ben, lock).await.unwrap();
    users.unfollow(ben, lock).await.unwrap();
    assert!(users.follow_requests(lock, &Page::first(10)).await.unwrap().is_empty());
    // An unlocked account is followed at once.
    assert!(users.follow(lock, ann).await.unwrap().following);
    // Unlocking approves the requests still waiting.
    users.follow(ben, lock).await.unwrap();
    users.update_profile(lock, None, None, Some(false)).await.unwrap();
    assert!(users.is_following(ben, lock).await.unwrap());
    assert!(users.follow_requests(lock, &Page::first(10)).await.unwrap().is_empty());
    assert_eq!(
        event_kinds(&users).await,
        [
            "\"follow_request.created\"",
            "\"follow_request.created\"",
            "\"follow.created\"",
            "\"follow_request.created\"",
            "\"follow.created\"",
            "\"follow_request.created\"",
            "\"follow.created\""
        ]
    );
}

#[tokio::test]
async fn follow_requests_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    follows_of_a_locked_account_wait_for_its_answer(DbConfig::Sqlite { dir: dir.path().into() }).await;
}

#[tokio::test]
async fn follow_requests_on_postgres() {
    let db = testdb::TestDatabase::create().await;
    follows_of_a_locked_account_wait_for_its_answer(db.config()).await;
    db.drop().await;
}
