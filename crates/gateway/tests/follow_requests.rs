//! Locked accounts and follow requests at the handler level.

mod support;

use http::{Method, StatusCode};
use serde_json::json;
use support::Harness;

#[tokio::test]
async fn a_locked_account_answers_follow_requests_and_its_private_posts_wait_for_it() {
    let h = Harness::new().await;
    let (lock, fan, stranger) = (h.user("lock").await, h.user("fan").await, h.user("stranger").await);
    let me = h
        .call(Method::PATCH, "/api/v1/accounts/update_credentials", Some(&lock.token), Some(json!({"locked": true})))
        .await;
    assert_eq!(me.expect(StatusCode::OK)["locked"], true);
    let secret = h.status(&lock, "for followers", "private").await;

    let r = h.post(&format!("/api/v1/accounts/{}/follow", lock.id), Some(&fan.token), json!({})).await;
    let r = r.expect(StatusCode::OK);
    assert_eq!((r["following"].clone(), r["requested"].clone()), (json!(false), json!(true)));
    // Not a follower yet: the private post stays hidden.
    h.get(&format!("/api/v1/statuses/{secret}"), Some(&fan.token)).await.error(StatusCode::NOT_FOUND);
    assert!(
        h.get("/api/v1/timelines/home", Some(&fan.token)).await.expect(StatusCode::OK).as_array().unwrap().is_empty()
    );

    let me = h.get("/api/v1/accounts/verify_credentials", Some(&lock.token)).await.expect(StatusCode::OK);
    assert_eq!(me["source"]["follow_requests_count"], 1);
    assert_eq!(me["source"]["privacy"], "private", "a locked account posts to followers by default");
    let waiting = h.get("/api/v1/follow_requests", Some(&lock.token)).await.expect(StatusCode::OK);
    assert_eq!(waiting[0]["username"], "fan");
    let rel = h.get(&format!("/api/v1/accounts/relationships?id[]={}", fan.id), Some(&lock.token)).await;
    assert_eq!(rel.expect(StatusCode::OK)[0]["requested_by"], true);

    let r = h.post(&format!("/api/v1/follow_requests/{}/authorize", fan.id), Some(&lock.token), json!({})).await;
    assert_eq!(r.expect(StatusCode::OK)["followed_by"], true);
    h.get(&format!("/api/v1/statuses/{secret}"), Some(&fan.token)).await.expect(StatusCode::OK);
    // Answered: another answer, or one for an account that never asked, is 404.
    for who in [&fan.id, &stranger.id, &"nonsense".to_string()] {
        let e = h.post(&format!("/api/v1/follow_requests/{who}/reject"), Some(&lock.token), json!({})).await;
        assert_eq!(e.error(StatusCode::NOT_FOUND), "Record not found", "{who}");
    }
    // A rejected request leaves no follow.
    h.post(&format!("/api/v1/accounts/{}/follow", lock.id), Some(&stranger.token), json!({}))
        .await
        .expect(StatusCode::OK);
    let r = h.post(&format!("/api/v1/follow_requests/{}/reject", stranger.id), Some(&lock.token), json!({})).await;
    assert_eq!(r.expect(StatusCode::OK)["followed_by"], false);
    h.get(&format!("/api/v1/statuses/{secret}"), Some(&stranger.token)).await.error(StatusCode::NOT_FOUND);
    // Scopes and bad input.
    h.get("/api/v1/follow_requests", None).await.error(StatusCode::UNAUTHORIZED);
    let bad = h
        .call(Method::PATCH, "/api/v1/accounts/update_credentials", Some(&lock.token), Some(json!({"locked": "maybe"})))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}
