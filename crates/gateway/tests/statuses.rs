//! `routes::statuses` at the handler level.

mod support;

use http::{Method, StatusCode};
use serde_json::json;
use support::Harness;

#[tokio::test]
async fn a_private_status_is_hidden_from_strangers_and_shown_to_followers() {
    let h = Harness::new().await;
    let (alice, bob, carol) = (h.user("alice").await, h.user("bob").await, h.user("carol").await);
    h.post(&format!("/api/v1/accounts/{}/follow", alice.id), Some(&bob.token), json!({})).await.expect(StatusCode::OK);
    let id = h.status(&alice, "for my followers", "private").await;
    let path = format!("/api/v1/statuses/{id}");
    h.get(&path, Some(&bob.token)).await.expect(StatusCode::OK);
    h.get(&path, Some(&alice.token)).await.expect(StatusCode::OK);
    h.get(&path, Some(&carol.token)).await.error(StatusCode::NOT_FOUND);
    h.get(&path, None).await.error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_the_author_deletes_and_anyone_else_gets_404() {
    let h = Harness::new().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    let id = h.status(&alice, "mine", "public").await;
    let path = format!("/api/v1/statuses/{id}");
    h.call(Method::DELETE, &path, Some(&bob.token), None).await.error(StatusCode::NOT_FOUND);
    h.get(&path, None).await.expect(StatusCode::OK);
    let deleted = h.call(Method::DELETE, &path, Some(&alice.token), None).await.expect(StatusCode::OK);
    assert_eq!(deleted["text"], "mine");
    h.get(&path, None).await.error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_statuses_are_422_and_replies_thread() {
    let h = Harness::new().await;
    let alice = h.user("alice").await;
    h.post("/api/v1/statuses", Some(&alice.token), json!({"status": ""})).await.error(StatusCode::UNPROCESSABLE_ENTITY);
    h.post("/api/v1/statuses", Some(&alice.token), json!({"status": "x".repeat(501)}))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    h.post("/api/v1/statuses", Some(&alice.token), json!({"status": "hi", "visibility": "everyone"}))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    h.post("/api/v1/statuses", None, json!({"status": "hi"})).await.error(StatusCode::UNAUTHORIZED);
    let first = h.status(&alice, "first", "public").await;
    let reply = h
        .post("/api/v1/statuses", Some(&alice.token), json!({"status": "second", "in_reply_to_id": first}))
        .await
        .expect(StatusCode::OK);
    let context = h.get(&format!("/api/v1/statuses/{}/context", reply["id"].as_str().unwrap()), None).await;
    assert_eq!(context.expect(StatusCode::OK)["ancestors"][0]["id"], first.as_str());
}
