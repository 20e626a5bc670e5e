//! Boosts at the handler level: `POST /api/v1/statuses/:id/reblog|unreblog`,
//! `reblogged_by`, the boost's shape (a status whose `reblog` is the
//! original), `reblogged` and `reblogs_count` wherever a status is read,
//! one appearance in a home timeline that also holds the original, and
//! the refusals (another's private post 422, an invisible or unknown one
//! 404, bad visibility 422, missing scope 403).

mod support;

use http::StatusCode;
use serde_json::{Value, json};
use support::{Harness, User};

fn ids(page: &Value) -> Vec<String> {
    page.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect()
}

/// `who`'s home, once it holds `n` statuses (fan-out runs after the
/// request that caused it).
async fn home_of(h: &Harness, who: &User, n: usize) -> Value {
    for _ in 0..200 {
        let home = h.get("/api/v1/timelines/home", Some(&who.token)).await.expect(StatusCode::OK);
        if home.as_array().unwrap().len() == n {
            return home;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the home of account {} never held {n} statuses", who.id);
}

#[tokio::test]
async fn a_boost_shows_its_original_once_and_is_counted_everywhere() {
    let h = Harness::new().await;
    let (alice, bob, carol) = (h.user("alice").await, h.user("bob").await, h.user("carol").await);
    let dave = h.user("dave").await;
    for (who, whom) in [(&bob, &alice), (&carol, &bob), (&carol, &alice), (&dave, &bob)] {
        h.post(&format!("/api/v1/accounts/{}/follow", whom.id), Some(&who.token), json!({}))
            .await
            .expect(StatusCode::OK);
    }
    let original = h.status(&alice, "boost me", "public").await;
    let mut boost = Value::Null;
    for _ in 0..2 {
        let b = h.post(&format!("/api/v1/statuses/{original}/reblog"), Some(&bob.token), json!({})).await;
        let b = b.expect(StatusCode::OK);
        assert!(boost.is_null() || b["id"] == boost["id"], "boosting again answers the same boost: {b}");
        boost = b;
    }
    assert_ne!(boost["id"], original.as_str());
    assert_eq!(boost["account"]["username"], "bob");
    assert_eq!((boost["content"].clone(), boost["visibility"].clone()), (json!(""), json!("public")));
    assert_eq!(boost["reblog"]["id"], original.as_str());
    assert_eq!(boost["reblog"]["account"]["username"], "alice");
    assert_eq!(
        (boost["reblog"]["reblogged"].clone(), boost["reblog"]["reblogs_count"].clone()),
        (json!(true), json!(1))
    );
    assert_eq!(boost["reblogged"], true, "a boost's flags are its original's");
    assert!(boost["uri"].as_str().unwrap().ends_with("/activity"));

    // Carol follows both: the boost is right above its original, so she
    // sees the original once and the boost not at all.
    let carols = home_of(&h, &carol, 1).await;
    assert_eq!(ids(&carols), [original.as_str()]);
    assert_eq!((carols[0]["reblogged"].clone(), carols[0]["reblogs_count"].clone()), (json!(false), json!(1)));
    // So does Bob, who follows Alice too (as Mastodon: a boost is not
    // shown above its original), with his boost marked on it.
    let bobs = home_of(&h, &bob, 1).await;
    assert_eq!((bobs[0]["id"].clone(), bobs[0]["reblogged"].clone()), (json!(original), json!(true)));
    let daves = home_of(&h, &dave, 1).await;
    assert_eq!((daves[0]["id"].clone(), daves[0]["reblog"]["id"].clone()), (boost["id"].clone(), json!(original)));

    // Shown by id, in Bob's statuses (unless boosts are left out), never
    // in the public timeline; reblogged_by names Bob.
    let shown = h.get(&format!("/api/v1/statuses/{}", boost["id"].as_str().unwrap()), None).await;
    assert_eq!(shown.expect(StatusCode::OK)["reblog"]["id"], original.as_str());
    let path = format!("/api/v1/accounts/{}/statuses", bob.id);
    let statuses = h.get(&path, Some(&carol.token)).await.expect(StatusCode::OK);
    assert_eq!(statuses[0]["reblog"]["id"], original.as_str());
    let statuses = h.get(&format!("{path}?exclude_reblogs=true"), Some(&carol.token)).await.expect(StatusCode::OK);
    assert!(statuses.as_array().unwrap().is_empty());
    let public = h.get("/api/v1/timelines/public", None).await.expect(StatusCode::OK);
    assert_eq!(ids(&public), [original.as_str()]);
    let by = h.get(&format!("/api/v1/statuses/{original}/reblogged_by"), None).await.expect(StatusCode::OK);
    assert_eq!(by.as_array().unwrap().iter().map(|a| a["username"].clone()).collect::<Vec<_>>(), [json!("bob")]);
    // Favouriting the boost favourites the original.
    let s = h
        .post(&format!("/api/v1/statuses/{}/favourite", boost["id"].as_str().unwrap()), Some(&carol.token), json!({}))
        .await;
    assert_eq!(s.expect(StatusCode::OK)["id"], original.as_str());

    // Taken back: the original, no longer boosted; again changes nothing.
    for _ in 0..2 {
        let s = h.post(&format!("/api/v1/statuses/{original}/unreblog"), Some(&bob.token), json!({})).await;
        let s = s.expect(StatusCode::OK);
        assert_eq!(
            (s["id"].clone(), s["reblogged"].clone(), s["reblogs_count"].clone()),
            (json!(original), json!(false), json!(0))
        );
    }
    // Dave follows only Bob: he saw the boost, and sees it go.
    home_of(&h, &dave, 0).await;
    let gone = h.get(&format!("/api/v1/statuses/{}", boost["id"].as_str().unwrap()), None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deleting_the_original_removes_its_boosts_everywhere() {
    let h = Harness::new().await;
    let (alice, bob, carol) = (h.user("alice").await, h.user("bob").await, h.user("carol").await);
    h.post(&format!("/api/v1/accounts/{}/follow", bob.id), Some(&carol.token), json!({})).await.expect(StatusCode::OK);
    let original = h.status(&alice, "soon gone", "public").await;
    let boost = h.post(&format!("/api/v1/statuses/{original}/reblog"), Some(&bob.token), json!({})).await;
    let boost = boost.expect(StatusCode::OK)["id"].as_str().unwrap().to_string();
    // Carol follows only the booster: she sees the boost.
    assert_eq!(home_of(&h, &carol, 1).await[0]["reblog"]["id"], original.as_str());
    h.call(http::Method::DELETE, &format!("/api/v1/statuses/{original}"), Some(&alice.token), None)
        .await
        .expect(StatusCode::OK);
    home_of(&h, &carol, 0).await;
    assert_eq!(h.get(&format!("/api/v1/statuses/{boost}"), None).await.status, StatusCode::NOT_FOUND);
    let statuses = h.get(&format!("/api/v1/accounts/{}/statuses", bob.id), None).await.expect(StatusCode::OK);
    assert!(statuses.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn boosting_what_one_may_not_is_refused() {
    let h = Harness::new().await;
    let (alice, bob, eve) = (h.user("alice").await, h.user("bob").await, h.user("eve").await);
    h.post(&format!("/api/v1/accounts/{}/follow", alice.id), Some(&bob.token), json!({})).await.expect(StatusCode::OK);
    let private = h.status(&alice, "followers only", "private").await;
    // Bob may see it, not boost it; Eve may not even see it.
    let e = h.post(&format!("/api/v1/statuses/{private}/reblog"), Some(&bob.token), json!({})).await;
    assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", e.body);
    for path in [
        format!("/api/v1/statuses/{private}/reblog"),
        format!("/api/v1/statuses/{private}/unreblog"),
        format!("/api/v1/statuses/{private}/reblogged_by"),
        "/api/v1/statuses/123456789/reblog".into(),
        "/api/v1/statuses/not-an-id/reblog".into(),
    ] {
        let a = if path.ends_with("reblogged_by") {
            h.get(&path, Some(&eve.token)).await
        } else {
            h.post(&path, Some(&eve.token), json!({})).await
        };
        assert_eq!(a.error(StatusCode::NOT_FOUND), "Record not found", "{path}");
    }
    // The author may boost her own private post; it stays private.
    let own = h
        .post(&format!("/api/v1/statuses/{private}/reblog"), Some(&alice.token), json!({"visibility": "public"}))
        .await;
    assert_eq!(own.expect(StatusCode::OK)["visibility"], "private");

    let public = h.status(&alice, "public", "public").await;
    for visibility in ["direct", "everyone", "PUBLIC"] {
        let a = h
            .post(&format!("/api/v1/statuses/{public}/reblog"), Some(&bob.token), json!({"visibility": visibility}))
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{visibility:?}: {}", a.body);
        assert!(a.body["error"].is_string());
    }
    let unlisted =
        h.post(&format!("/api/v1/statuses/{public}/reblog"), Some(&bob.token), json!({"visibility": "unlisted"})).await;
    assert_eq!(unlisted.expect(StatusCode::OK)["visibility"], "unlisted");
    h.post(&format!("/api/v1/statuses/{public}/reblog"), None, json!({})).await.error(StatusCode::UNAUTHORIZED);
    let reader = h.user_with("reader", "read write:accounts").await;
    let a = h.post(&format!("/api/v1/statuses/{public}/reblog"), Some(&reader.token), json!({})).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // Garbage paging on reblogged_by is a 4xx in Mastodon's shape.
    for q in ["max_id=abc", "limit=zz", "min_id=-1x", "since_id=%ff"] {
        let a = h.get(&format!("/api/v1/statuses/{public}/reblogged_by?{q}"), None).await;
        assert!(a.status.is_client_error(), "{q}: {}", a.status);
        assert!(a.body["error"].is_string(), "{q}: {}", a.body);
    }
}
