//! `routes::timelines` at the handler level: fan-out through the real
//! in-process bus and the outbox relays.

mod support;

use http::StatusCode;
use serde_json::json;
use std::time::Duration;
use support::Harness;

#[tokio::test]
async fn a_followers_home_gets_the_post_and_the_public_timeline_shows_it() {
    let h = Harness::new().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    h.post(&format!("/api/v1/accounts/{}/follow", alice.id), Some(&bob.token), json!({})).await.expect(StatusCode::OK);
    let id = h.status(&alice, "hello followers", "public").await;
    let mut home = serde_json::Value::Null;
    for _ in 0..200 {
        home = h.get("/api/v1/timelines/home", Some(&bob.token)).await.expect(StatusCode::OK);
        if home.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(home[0]["id"], id.as_str(), "{home}");
    let public = h.get("/api/v1/timelines/public", None).await.expect(StatusCode::OK);
    assert_eq!(public[0]["id"], id.as_str());
}

#[tokio::test]
async fn home_needs_a_user_and_bad_paging_is_refused() {
    let h = Harness::new().await;
    h.get("/api/v1/timelines/home", None).await.error(StatusCode::UNAUTHORIZED);
    let alice = h.user("alice").await;
    let bad = h.get("/api/v1/timelines/home?max_id=not-an-id", Some(&alice.token)).await;
    assert!(bad.status.is_client_error(), "{} {}", bad.status, bad.body);
}
