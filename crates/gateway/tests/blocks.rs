//! Blocks, mutes and follow options at the handler level: a block made
//! after fan-out hides what was delivered, ends follows both ways, and
//! hides each side from the other in threads, lists and the public
//! timeline; mutes (with `duration` and `notifications`) hide the muted
//! account's posts and boosts of them until unmuted; `reblogs=false` on a
//! follow hides its boosts; `Relationship` reports all of it; refusals.

mod support;

use http::StatusCode;
use serde_json::{Value, json};
use support::{Harness, User};

fn ids(page: &Value) -> Vec<String> {
    page.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect()
}

/// `who`'s home once it holds exactly `want` (fan-out and evictions run
/// after the request that caused them).
async fn home_becomes(h: &Harness, who: &User, want: &[&str]) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = h.get("/api/v1/timelines/home", Some(&who.token)).await.expect(StatusCode::OK);
        if ids(&last) == want {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("home of account {} never became {want:?}: {last}", who.id);
}

async fn follow(h: &Harness, who: &User, whom: &User, body: Value) -> Value {
    h.post(&format!("/api/v1/accounts/{}/follow", whom.id), Some(&who.token), body).await.expect(StatusCode::OK)
}

fn relationship(h: &Harness, who: &User, of: &User) -> impl std::future::Future<Output = Value> {
    let path = format!("/api/v1/accounts/relationships?id[]={}", of.id);
    let token = who.token.clone();
    async move { h.get(&path, Some(&token)).await.expect(StatusCode::OK)[0].clone() }
}

#[tokio::test]
async fn a_block_after_fan_out_hides_both_sides_everywhere() {
    let h = Harness::new().await;
    let (alice, bob, carol) = (h.user("alice").await, h.user("bob").await, h.user("carol").await);
    follow(&h, &bob, &alice, json!({})).await;
    follow(&h, &alice, &bob, json!({})).await;
    follow(&h, &bob, &carol, json!({})).await;
    let post = h.status(&alice, "delivered before the block", "public").await;
    home_becomes(&h, &bob, &[&post]).await;
    // Carol boosts it; Bob sees the original once (the boost is right above it).
    let boost = h.post(&format!("/api/v1/statuses/{post}/reblog"), Some(&carol.token), json!({})).await;
    boost.expect(StatusCode::OK);
    let reply = h
        .post("/api/v1/statuses", Some(&carol.token), json!({"status": "a reply", "in_reply_to_id": post}))
        .await
        .expect(StatusCode::OK)["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.post(&format!("/api/v1/statuses/{post}/favourite"), Some(&bob.token), json!({})).await.expect(StatusCode::OK);

    for _ in 0..2 {
        let r = h.post(&format!("/api/v1/accounts/{}/block", alice.id), Some(&bob.token), json!({})).await;
        let r = r.expect(StatusCode::OK);
        assert_eq!(
            (r["blocking"].clone(), r["following"].clone(), r["followed_by"].clone()),
            (json!(true), json!(false), json!(false)),
            "{r}"
        );
    }
    assert_eq!(relationship(&h, &alice, &bob).await["blocked_by"], true);
    // Already delivered, and boosted by someone Bob still follows: gone.
    home_becomes(&h, &bob, &[]).await;
    assert!(
        ids(&h.get("/api/v1/timelines/public", Some(&bob.token)).await.expect(StatusCode::OK))
            .iter()
            .all(|id| *id != post)
    );
    assert!(ids(&h.get("/api/v1/favourites", Some(&bob.token)).await.expect(StatusCode::OK)).is_empty());
    let thread = h.get(&format!("/api/v1/statuses/{reply}/context"), Some(&bob.token)).await.expect(StatusCode::OK);
    assert!(thread["ancestors"].as_array().unwrap().is_empty(), "{thread}");
    // The blocked side: Alice's view of Bob is the same.
    let bobs = h.status(&bob, "bob after the block", "public").await;
    assert_eq!(h.get(&format!("/api/v1/statuses/{bobs}"), Some(&alice.token)).await.status, StatusCode::NOT_FOUND);
    let listed =
        h.get(&format!("/api/v1/accounts/{}/statuses", bob.id), Some(&alice.token)).await.expect(StatusCode::OK);
    assert!(listed.as_array().unwrap().is_empty());
    assert_eq!(
        h.post(&format!("/api/v1/accounts/{}/follow", bob.id), Some(&alice.token), json!({})).await.status,
        StatusCode::FORBIDDEN
    );
    let blocks = h.get("/api/v1/blocks", Some(&bob.token)).await.expect(StatusCode::OK);
    assert_eq!(ids(&blocks), [alice.id.as_str()]);

    // Unblocked: nothing comes back by itself (the follows ended), and
    // following again brings Alice's posts.
    let r = h.post(&format!("/api/v1/accounts/{}/unblock", alice.id), Some(&bob.token), json!({})).await;
    assert_eq!(r.expect(StatusCode::OK)["blocking"], false);
    follow(&h, &bob, &alice, json!({})).await;
    home_becomes(&h, &bob, &[&bobs, &reply, &post]).await;
}

#[tokio::test]
async fn a_mute_hides_posts_and_boosts_until_unmuted_and_reblogs_false_hides_boosts() {
    let h = Harness::new().await;
    let (alice, bob, carol) = (h.user("alice").await, h.user("bob").await, h.user("carol").await);
    follow(&h, &bob, &alice, json!({})).await;
    follow(&h, &bob, &carol, json!({})).await;
    let before = h.status(&alice, "before the mute", "public").await;
    home_becomes(&h, &bob, &[&before]).await;
    let r = h
        .post(
            &format!("/api/v1/accounts/{}/mute", alice.id),
            Some(&bob.token),
            json!({"notifications": false, "duration": 3600}),
        )
        .await;
    let r = r.expect(StatusCode::OK);
    assert_eq!(
        (r["muting"].clone(), r["muting_notifications"].clone(), r["following"].clone()),
        (json!(true), json!(false), json!(true))
    );
    let during = h.status(&alice, "while muted", "public").await;
    let own = h.status(&carol, "carol's own", "public").await;
    h.post(&format!("/api/v1/statuses/{during}/reblog"), Some(&carol.token), json!({})).await.expect(StatusCode::OK);
    home_becomes(&h, &bob, &[&own]).await;
    let mutes = h.get("/api/v1/mutes", Some(&bob.token)).await.expect(StatusCode::OK);
    assert_eq!(ids(&mutes), [alice.id.as_str()]);
    assert!(mutes[0]["mute_expires_at"].is_string(), "{mutes}");

    // Unmuted: everything Alice posted is back, the boost still below its
    // window's rule (its original is right below it).
    let r = h.post(&format!("/api/v1/accounts/{}/unmute", alice.id), Some(&bob.token), json!({})).await;
    assert_eq!(r.expect(StatusCode::OK)["muting"], false);
    home_becomes(&h, &bob, &[&own, &during, &before]).await;

    // Carol's boosts hidden, then shown again, by following with `reblogs`.
    let r = follow(&h, &bob, &carol, json!({"reblogs": false})).await;
    assert_eq!((r["following"].clone(), r["showing_reblogs"].clone()), (json!(true), json!(false)));
    // A boost of a post by someone Bob does not follow.
    let dave = h.user("dave").await;
    let daves = h.status(&dave, "worth a boost", "public").await;
    let boost = h.post(&format!("/api/v1/statuses/{daves}/reblog"), Some(&carol.token), json!({})).await;
    let boost = boost.expect(StatusCode::OK)["id"].as_str().unwrap().to_string();
    let carols = format!("/api/v1/accounts/{}/statuses", carol.id);
    assert_eq!(ids(&h.get(&carols, Some(&bob.token)).await.expect(StatusCode::OK))[0], boost);
    home_becomes(&h, &bob, &[&own, &during, &before]).await;
    let r = follow(&h, &bob, &carol, json!({"reblogs": true, "notify": true})).await;
    assert_eq!((r["showing_reblogs"].clone(), r["notifying"].clone()), (json!(true), json!(true)));
    let shown = home_becomes(&h, &bob, &[&boost, &own, &during, &before]).await;
    assert_eq!(shown[0]["reblog"]["id"], daves.as_str());
}

#[tokio::test]
async fn blocking_and_muting_refuse_what_they_should() {
    let h = Harness::new().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    for action in ["block", "mute"] {
        let own = h.post(&format!("/api/v1/accounts/{}/{action}", alice.id), Some(&alice.token), json!({})).await;
        assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY, "{action} oneself: {}", own.body);
        assert!(own.body["error"].is_string());
        for id in ["123456789", "not-an-id"] {
            let a = h.post(&format!("/api/v1/accounts/{id}/{action}"), Some(&alice.token), json!({})).await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{action} {id}");
        }
        h.post(&format!("/api/v1/accounts/{}/{action}", bob.id), None, json!({})).await.error(StatusCode::UNAUTHORIZED);
    }
    for duration in [json!(-1), json!("soon"), json!(999_999_999_999u64)] {
        let a = h
            .post(&format!("/api/v1/accounts/{}/mute", bob.id), Some(&alice.token), json!({"duration": duration}))
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "duration {duration}: {}", a.body);
    }
    let a = h
        .post(&format!("/api/v1/accounts/{}/mute", bob.id), Some(&alice.token), json!({"notifications": "maybe"}))
        .await;
    assert!(a.status.is_client_error());
    let reader = h.user_with("reader", "read write:accounts").await;
    let a = h.post(&format!("/api/v1/accounts/{}/block", bob.id), Some(&reader.token), json!({})).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let writer = h.user_with("writer", "write").await;
    assert_eq!(h.get("/api/v1/blocks", Some(&writer.token)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(h.get("/api/v1/mutes", None).await.status, StatusCode::UNAUTHORIZED);
    // `follow` alone (the legacy scope) is enough, as in Mastodon.
    let legacy = h.user_with("legacy", "read follow write:accounts").await;
    let a = h.post(&format!("/api/v1/accounts/{}/block", bob.id), Some(&legacy.token), json!({})).await;
    assert_eq!(a.expect(StatusCode::OK)["blocking"], true);
}
