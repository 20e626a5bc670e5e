//! `routes::notifications` at the handler level: follows through the
//! real bus reach the followed account's notifications.

mod support;

use http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use support::{Harness, User};

/// The account's notifications once `n` of them are there (the handler
/// runs after the follow's commit, through the outbox and the bus).
async fn notifications(h: &Harness, who: &User, n: usize) -> Value {
    let mut got = Value::Null;
    for _ in 0..300 {
        got = h.get("/api/v1/notifications", Some(&who.token)).await.expect(StatusCode::OK);
        if got.as_array().is_some_and(|a| a.len() >= n) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    got
}

#[tokio::test]
async fn a_follow_notifies_the_followed_account_and_dismiss_and_clear_remove_it() {
    let h = Harness::new().await;
    let (alice, bob, carol) = (h.user("alice").await, h.user("bob").await, h.user("carol").await);
    h.post(&format!("/api/v1/accounts/{}/follow", alice.id), Some(&bob.token), json!({})).await.expect(StatusCode::OK);
    let list = notifications(&h, &alice, 1).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let n = &list[0];
    assert_eq!(n["type"], "follow");
    assert_eq!(n["account"]["id"], bob.id.as_str());
    let id = n["id"].as_str().unwrap().to_string();
    assert_eq!(n["group_key"], format!("ungrouped-{id}"));
    assert!(n.get("status").is_none_or(Value::is_null), "{n}");
    // The follower hears nothing of their own follow.
    assert_eq!(h.get("/api/v1/notifications", Some(&bob.token)).await.expect(StatusCode::OK), json!([]));

    let one = h.get(&format!("/api/v1/notifications/{id}"), Some(&alice.token)).await.expect(StatusCode::OK);
    assert_eq!(one["id"], id.as_str());
    // Another account's notification is not there for anyone else.
    h.get(&format!("/api/v1/notifications/{id}"), Some(&carol.token)).await.error(StatusCode::NOT_FOUND);
    h.post(&format!("/api/v1/notifications/{id}/dismiss"), Some(&carol.token), json!({}))
        .await
        .error(StatusCode::NOT_FOUND);

    // Filters: a type not asked for, or excluded, leaves it out.
    let only_mentions = h.get("/api/v1/notifications?types[]=mention", Some(&alice.token)).await;
    assert_eq!(only_mentions.expect(StatusCode::OK), json!([]));
    let without_follows = h.get("/api/v1/notifications?exclude_types[]=follow", Some(&alice.token)).await;
    assert_eq!(without_follows.expect(StatusCode::OK), json!([]));
    let from_bob = h.get(&format!("/api/v1/notifications?account_id={}", bob.id), Some(&alice.token)).await;
    assert_eq!(from_bob.expect(StatusCode::OK).as_array().unwrap().len(), 1);

    h.post(&format!("/api/v1/notifications/{id}/dismiss"), Some(&alice.token), json!({})).await.expect(StatusCode::OK);
    assert_eq!(h.get("/api/v1/notifications", Some(&alice.token)).await.expect(StatusCode::OK), json!([]));

    h.post(&format!("/api/v1/accounts/{}/follow", alice.id), Some(&carol.token), json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(notifications(&h, &alice, 1).await.as_array().unwrap().len(), 1);
    h.post("/api/v1/notifications/clear", Some(&alice.token), json!({})).await.expect(StatusCode::OK);
    assert_eq!(h.get("/api/v1/notifications", Some(&alice.token)).await.expect(StatusCode::OK), json!([]));
}

#[tokio::test]
async fn an_unfollow_takes_its_notification_back() {
    let h = Harness::new().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    h.post(&format!("/api/v1/accounts/{}/follow", alice.id), Some(&bob.token), json!({})).await.expect(StatusCode::OK);
    assert_eq!(notifications(&h, &alice, 1).await.as_array().unwrap().len(), 1);
    h.post(&format!("/api/v1/accounts/{}/unfollow", alice.id), Some(&bob.token), json!({}))
        .await
        .expect(StatusCode::OK);
    let mut left = Value::Null;
    for _ in 0..300 {
        left = h.get("/api/v1/notifications", Some(&alice.token)).await.expect(StatusCode::OK);
        if left == json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(left, json!([]));
}

#[tokio::test]
async fn notifications_need_a_user_token_with_the_scope_and_ids_are_checked() {
    let h = Harness::new().await;
    h.get("/api/v1/notifications", None).await.error(StatusCode::UNAUTHORIZED);
    h.post("/api/v1/notifications/clear", None, json!({})).await.error(StatusCode::UNAUTHORIZED);
    let (_, app_token) = h.app("read write").await;
    h.get("/api/v1/notifications", Some(&app_token)).await.error(StatusCode::UNPROCESSABLE_ENTITY);
    let alice = h.user("alice").await;
    h.get("/api/v1/notifications/not-an-id", Some(&alice.token)).await.error(StatusCode::NOT_FOUND);
    h.get("/api/v1/notifications/999999999", Some(&alice.token)).await.error(StatusCode::NOT_FOUND);
    h.post("/api/v1/notifications/999999999/dismiss", Some(&alice.token), json!({})).await.error(StatusCode::NOT_FOUND);
    assert_eq!(
        h.get("/api/v1/notifications?account_id=not-an-id", Some(&alice.token)).await.expect(StatusCode::OK),
        json!([])
    );
    h.get("/api/v1/notifications?max_id=nope", Some(&alice.token)).await.error(StatusCode::UNPROCESSABLE_ENTITY);
    // A token whose scopes do not cover notifications may not read them.
    let write_only = h.user_with("bob", "write").await;
    h.get("/api/v1/notifications", Some(&write_only.token)).await.error(StatusCode::FORBIDDEN);
}

/// `who`'s notifications of `types[]` once they are `n` (the handler runs
/// after the commit, through the outbox and the bus).
async fn of_types(h: &Harness, who: &User, types: &str, n: usize) -> Value {
    let mut got = Value::Null;
    for _ in 0..300 {
        got = h.get(&format!("/api/v1/notifications?{types}"), Some(&who.token)).await.expect(StatusCode::OK);
        if got.as_array().is_some_and(|a| a.len() == n) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    got
}

#[tokio::test]
async fn favourites_boosts_and_mentions_notify_with_their_status_and_go_when_undone() {
    let h = Harness::new().await;
    let (alice, bob, carol) = (h.user("alice").await, h.user("bob").await, h.user("carol").await);
    let post = h.status(&alice, "notice me", "public").await;
    h.post(&format!("/api/v1/statuses/{post}/favourite"), Some(&bob.token), json!({})).await.expect(StatusCode::OK);
    h.post(&format!("/api/v1/statuses/{post}/reblog"), Some(&carol.token), json!({})).await.expect(StatusCode::OK);
    let mention = h.status(&bob, "@alice hello there", "direct").await;
    let list = of_types(&h, &alice, "types[]=favourite&types[]=reblog&types[]=mention", 3).await;
    let got: Vec<(&str, &str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (n["type"].as_str().unwrap(), n["account"]["id"].as_str().unwrap(), n["status"]["id"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        got,
        [
            ("mention", bob.id.as_str(), mention.as_str()),
            ("reblog", carol.id.as_str(), post.as_str()),
            ("favourite", bob.id.as_str(), post.as_str())
        ]
    );
    assert_eq!(list[0]["status"]["visibility"], "direct", "a direct mention, rendered for its recipient");
    assert_eq!(list[2]["status"]["favourites_count"], 1);
    // Filters by type; the actors hear nothing of their own actions.
    assert_eq!(of_types(&h, &alice, "exclude_types[]=favourite&exclude_types[]=reblog", 1).await[0]["type"], "mention");
    assert_eq!(h.get("/api/v1/notifications", Some(&bob.token)).await.expect(StatusCode::OK), json!([]));

    // Undone: the unfavourite, the unboost, the deletion.
    h.post(&format!("/api/v1/statuses/{post}/unfavourite"), Some(&bob.token), json!({})).await.expect(StatusCode::OK);
    h.post(&format!("/api/v1/statuses/{post}/unreblog"), Some(&carol.token), json!({})).await.expect(StatusCode::OK);
    h.call(http::Method::DELETE, &format!("/api/v1/statuses/{mention}"), Some(&bob.token), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(of_types(&h, &alice, "types[]=favourite&types[]=reblog&types[]=mention", 0).await, json!([]));
}

#[tokio::test]
async fn markers_keep_the_reading_position_and_bound_the_unread_count() {
    let h = Harness::new().await;
    let (alice, bob, carol) = (h.user("alice").await, h.user("bob").await, h.user("carol").await);
    assert_eq!(h.get("/api/v1/markers?timeline[]=home", Some(&alice.token)).await.expect(StatusCode::OK), json!({}));
    let post = h.status(&alice, "read up to here", "public").await;
    let saved = h
        .post("/api/v1/markers", Some(&alice.token), json!({"home": {"last_read_id": post}}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (saved["home"]["last_read_id"].as_str(), saved["home"]["version"].as_u64()),
        (Some(post.as_str()), Some(1))
    );
    assert!(saved["home"]["updated_at"].is_string() && saved.get("notifications").is_none());
    let again = h.post("/api/v1/markers", Some(&alice.token), json!({"home[last_read_id]": post})).await;
    assert_eq!(again.expect(StatusCode::OK)["home"]["version"], 2);
    let read = h
        .get("/api/v1/markers?timeline[]=home&timeline[]=notifications&timeline[]=nonsense", Some(&alice.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(read["home"]["version"], 2);
    assert!(read.get("notifications").is_none(), "never set: absent");
    assert_eq!(h.get("/api/v1/markers?timeline[]=home", Some(&bob.token)).await.expect(StatusCode::OK), json!({}));

    // Unread: follows above the notifications marker.
    for who in [&bob, &carol] {
        h.post(&format!("/api/v1/accounts/{}/follow", alice.id), Some(&who.token), json!({}))
            .await
            .expect(StatusCode::OK);
    }
    let list = notifications(&h, &alice, 2).await;
    let count = |q: &str| {
        let (h, path, token) = (&h, format!("/api/v1/notifications/unread_count{q}"), alice.token.clone());
        async move { h.get(&path, Some(&token)).await.expect(StatusCode::OK)["count"].clone() }
    };
    assert_eq!(count("").await, 2);
    assert_eq!(count("?limit=1").await, 1);
    assert_eq!(count("?types[]=mention").await, 0);
    let older = list[1]["id"].as_str().unwrap();
    h.post("/api/v1/markers", Some(&alice.token), json!({"notifications": {"last_read_id": older}}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(count("").await, 1);

    // Bad input and access.
    let bad = h.post("/api/v1/markers", Some(&alice.token), json!({"home": {"last_read_id": "nope"}})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    h.get("/api/v1/markers?timeline[]=home", None).await.error(StatusCode::UNAUTHORIZED);
    h.get("/api/v1/notifications/unread_count", None).await.error(StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.get("/api/v1/notifications/unread_count?limit=zz", Some(&alice.token)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}
