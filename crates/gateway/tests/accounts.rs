//! `routes::accounts` at the handler level.

mod support;

use http::{Method, StatusCode};
use serde_json::json;
use support::Harness;

#[tokio::test]
async fn following_shows_in_relationships_counts_and_lists_and_unfollowing_undoes_it() {
    let h = Harness::new().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    let rel = h.post(&format!("/api/v1/accounts/{}/follow", bob.id), Some(&alice.token), json!({})).await;
    assert_eq!(rel.expect(StatusCode::OK)["following"], true);
    let rels = h
        .get(&format!("/api/v1/accounts/relationships?id[]={}", bob.id), Some(&alice.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(rels[0]["following"], true);
    let followers = h.get(&format!("/api/v1/accounts/{}/followers", bob.id), None).await.expect(StatusCode::OK);
    assert_eq!(followers[0]["id"], alice.id.as_str());
    let shown = h.get(&format!("/api/v1/accounts/{}", bob.id), None).await.expect(StatusCode::OK);
    assert_eq!(shown["followers_count"], 1);
    let rel = h.post(&format!("/api/v1/accounts/{}/unfollow", bob.id), Some(&alice.token), json!({})).await;
    assert_eq!(rel.expect(StatusCode::OK)["following"], false);
}

#[tokio::test]
async fn unknown_and_malformed_account_ids_are_404() {
    let h = Harness::new().await;
    let alice = h.user("alice").await;
    h.get("/api/v1/accounts/999999999", None).await.error(StatusCode::NOT_FOUND);
    h.get("/api/v1/accounts/not-an-id", None).await.error(StatusCode::NOT_FOUND);
    h.post("/api/v1/accounts/999999999/follow", Some(&alice.token), json!({})).await.error(StatusCode::NOT_FOUND);
    h.get("/api/v1/accounts/lookup?acct=nobody", None).await.error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn profile_changes_are_checked_and_only_ones_own() {
    let h = Harness::new().await;
    let alice = h.user("alice").await;
    let long = "x".repeat(31);
    h.call(
        Method::PATCH,
        "/api/v1/accounts/update_credentials",
        Some(&alice.token),
        Some(json!({"display_name": long})),
    )
    .await
    .error(StatusCode::UNPROCESSABLE_ENTITY);
    let me = h
        .call(
            Method::PATCH,
            "/api/v1/accounts/update_credentials",
            Some(&alice.token),
            Some(json!({"display_name": "Al"})),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["display_name"], "Al");
    h.call(Method::PATCH, "/api/v1/accounts/update_credentials", None, Some(json!({"display_name": "Mallory"})))
        .await
        .error(StatusCode::UNAUTHORIZED);
    // Following oneself is refused.
    h.post(&format!("/api/v1/accounts/{}/follow", alice.id), Some(&alice.token), json!({}))
        .await
        .error(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_taken_username_is_named_in_the_details() {
    let h = Harness::new().await;
    h.user("alice").await;
    let (_, app_token) = h.app("read write").await;
    let taken = h
        .post(
            "/api/v1/accounts",
            Some(&app_token),
            json!({"username": "alice", "email": "other@example.org", "password": "correct horse battery",
                   "agreement": true, "locale": "en"}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(taken.body["details"]["username"][0]["error"], "ERR_TAKEN");
}
