//! Favourites and bookmarks at the handler level: `POST
//! /api/v1/statuses/:id/favourite|unfavourite|bookmark|unbookmark`, `GET
//! /api/v1/favourites` and `/bookmarks`, `favourited_by`, and `favourited`,
//! `bookmarked` and `favourites_count` on every status a viewer reads.

mod support;

use http::StatusCode;
use serde_json::{Value, json};
use support::Harness;

fn ids(page: &Value) -> Vec<String> {
    page.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_favourite_shows_on_the_status_everywhere_the_viewer_reads_it() {
    let h = Harness::new().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    h.post(&format!("/api/v1/accounts/{}/follow", alice.id), Some(&bob.token), json!({})).await.expect(StatusCode::OK);
    let id = h.status(&alice, "star me", "public").await;
    for _ in 0..2 {
        let s = h.post(&format!("/api/v1/statuses/{id}/favourite"), Some(&bob.token), json!({})).await;
        let s = s.expect(StatusCode::OK);
        assert_eq!((s["favourited"].clone(), s["favourites_count"].clone()), (json!(true), json!(1)), "{s}");
    }
    // Bob sees his star on every read; Alice sees the count, not a star.
    let show = h.get(&format!("/api/v1/statuses/{id}"), Some(&bob.token)).await.expect(StatusCode::OK);
    assert_eq!(show["favourited"], true);
    let home = h.get("/api/v1/timelines/home", Some(&bob.token)).await.expect(StatusCode::OK);
    assert_eq!(home[0]["favourited"], true);
    let public = h.get("/api/v1/timelines/public", Some(&bob.token)).await.expect(StatusCode::OK);
    assert_eq!(public[0]["favourited"], true);
    let own =
        h.get(&format!("/api/v1/accounts/{}/statuses", alice.id), Some(&alice.token)).await.expect(StatusCode::OK);
    assert_eq!((own[0]["favourited"].clone(), own[0]["favourites_count"].clone()), (json!(false), json!(1)));
    let anonymous = h.get(&format!("/api/v1/statuses/{id}"), None).await.expect(StatusCode::OK);
    assert_eq!((anonymous["favourited"].clone(), anonymous["favourites_count"].clone()), (json!(false), json!(1)));

    let by = h.get(&format!("/api/v1/statuses/{id}/favourited_by"), None).await.expect(StatusCode::OK);
    assert_eq!(by.as_array().unwrap().iter().map(|a| a["username"].clone()).collect::<Vec<_>>(), [json!("bob")]);

    for _ in 0..2 {
        let s = h.post(&format!("/api/v1/statuses/{id}/unfavourite"), Some(&bob.token), json!({})).await;
        let s = s.expect(StatusCode::OK);
        assert_eq!((s["favourited"].clone(), s["favourites_count"].clone()), (json!(false), json!(0)));
    }
}

#[tokio::test]
async fn favourites_list_newest_favourite_first_with_link_paging() {
    let h = Harness::new().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    let mut posts = Vec::new();
    for i in 0..3 {
        posts.push(h.status(&alice, &format!("p{i}"), "public").await);
    }
    // Favourited in the order 1, 0, 2: listed 2, 0, 1.
    for i in [1, 0, 2] {
        h.post(&format!("/api/v1/statuses/{}/favourite", posts[i]), Some(&bob.token), json!({}))
            .await
            .expect(StatusCode::OK);
    }
    let first = h.get("/api/v1/favourites?limit=2", Some(&bob.token)).await;
    let link = first.headers["link"].to_str().unwrap().to_string();
    assert_eq!(ids(&first.body), [posts[2].clone(), posts[0].clone()]);
    assert!(first.body.as_array().unwrap().iter().all(|s| s["favourited"] == true));
    let next = link.split(',').find(|l| l.contains("rel=\"next\"")).unwrap();
    let next = &next[next.find("/api").unwrap()..next.find('>').unwrap()];
    let rest = h.get(next, Some(&bob.token)).await.expect(StatusCode::OK);
    assert_eq!(ids(&rest), [posts[1].clone()]);
    // Alice favourited nothing.
    assert!(
        h.get("/api/v1/favourites", Some(&alice.token)).await.expect(StatusCode::OK).as_array().unwrap().is_empty()
    );
}

#[tokio::test]
async fn favouriting_what_one_may_not_see_is_404_and_needs_the_scope() {
    let h = Harness::new().await;
    let (alice, eve) = (h.user("alice").await, h.user("eve").await);
    let private = h.status(&alice, "followers only", "private").await;
    for path in [
        format!("/api/v1/statuses/{private}/favourite"),
        format!("/api/v1/statuses/{private}/unfavourite"),
        "/api/v1/statuses/123456789/favourite".into(),
        "/api/v1/statuses/not-an-id/favourite".into(),
        "/api/v1/statuses/%00/favourite".into(),
    ] {
        let e = h.post(&path, Some(&eve.token), json!({})).await.error(StatusCode::NOT_FOUND);
        assert_eq!(e, "Record not found", "{path}");
    }
    assert_eq!(
        h.get(&format!("/api/v1/statuses/{private}/favourited_by"), Some(&eve.token)).await.status,
        StatusCode::NOT_FOUND
    );
    // The author's private post stays uncounted.
    let s = h.get(&format!("/api/v1/statuses/{private}"), Some(&alice.token)).await.expect(StatusCode::OK);
    assert_eq!(s["favourites_count"], 0);

    let public = h.status(&alice, "public", "public").await;
    h.post(&format!("/api/v1/statuses/{public}/favourite"), None, json!({})).await.error(StatusCode::UNAUTHORIZED);
    let reader = h.user_with("reader", "read write:accounts").await;
    let e = h.post(&format!("/api/v1/statuses/{public}/favourite"), Some(&reader.token), json!({})).await;
    assert_eq!(e.status, StatusCode::FORBIDDEN);
    h.get("/api/v1/favourites", None).await.error(StatusCode::UNAUTHORIZED);
    let writer = h.user_with("writer", "write").await;
    assert_eq!(h.get("/api/v1/favourites", Some(&writer.token)).await.status, StatusCode::FORBIDDEN);
    // Garbage paging parameters are refused in Mastodon's shape.
    for q in ["max_id=abc", "limit=zz", "min_id=-1x", "since_id=%ff"] {
        let a = h.get(&format!("/api/v1/favourites?{q}"), Some(&alice.token)).await;
        assert!(a.status.is_client_error(), "{q}: {}", a.status);
        assert!(a.body["error"].is_string(), "{q}: {}", a.body);
    }
}

#[tokio::test]
async fn bookmarks_are_private_uncounted_and_listed_newest_first() {
    let h = Harness::new().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    let first = h.status(&alice, "save me", "public").await;
    let second = h.status(&alice, "and me", "unlisted").await;
    for id in [&first, &second, &second] {
        let s = h.post(&format!("/api/v1/statuses/{id}/bookmark"), Some(&bob.token), json!({})).await;
        let s = s.expect(StatusCode::OK);
        assert_eq!((s["bookmarked"].clone(), s["favourites_count"].clone()), (json!(true), json!(0)), "{s}");
    }
    let saved = h.get("/api/v1/bookmarks", Some(&bob.token)).await.expect(StatusCode::OK);
    assert_eq!(ids(&saved), [second.clone(), first.clone()]);
    // Only Bob sees his bookmark.
    let seen = h.get(&format!("/api/v1/statuses/{first}"), Some(&alice.token)).await.expect(StatusCode::OK);
    assert_eq!(seen["bookmarked"], false);
    let home = h.get(&format!("/api/v1/accounts/{}/statuses", alice.id), Some(&bob.token)).await.expect(StatusCode::OK);
    assert!(home.as_array().unwrap().iter().all(|s| s["bookmarked"] == true && s["favourited"] == false));
    let s = h.post(&format!("/api/v1/statuses/{first}/unbookmark"), Some(&bob.token), json!({})).await;
    assert_eq!(s.expect(StatusCode::OK)["bookmarked"], false);
    assert_eq!(ids(&h.get("/api/v1/bookmarks", Some(&bob.token)).await.expect(StatusCode::OK)), [second.as_str()]);
    // A deleted post leaves the list.
    h.call(http::Method::DELETE, &format!("/api/v1/statuses/{second}"), Some(&alice.token), None)
        .await
        .expect(StatusCode::OK);
    assert!(h.get("/api/v1/bookmarks", Some(&bob.token)).await.expect(StatusCode::OK).as_array().unwrap().is_empty());
    // Scopes and visibility, as for favourites.
    let private = h.status(&alice, "followers only", "private").await;
    h.post(&format!("/api/v1/statuses/{private}/bookmark"), Some(&bob.token), json!({}))
        .await
        .error(StatusCode::NOT_FOUND);
    let reader = h.user_with("reader", "read write:accounts").await;
    let e = h.post(&format!("/api/v1/statuses/{first}/bookmark"), Some(&reader.token), json!({})).await;
    assert_eq!(e.status, StatusCode::FORBIDDEN);
    h.get("/api/v1/bookmarks", None).await.error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn pins_feature_up_to_five_own_posts_on_the_profile() {
    let h = Harness::new().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    let mut posts = Vec::new();
    for (i, visibility) in ["public", "unlisted", "private", "public", "public", "public"].iter().enumerate() {
        posts.push(h.status(&alice, &format!("p{i}"), visibility).await);
    }
    for id in &posts[..5] {
        let s = h.post(&format!("/api/v1/statuses/{id}/pin"), Some(&alice.token), json!({})).await;
        assert_eq!(s.expect(StatusCode::OK)["pinned"], true);
    }
    let sixth = h.post(&format!("/api/v1/statuses/{}/pin", posts[5]), Some(&alice.token), json!({})).await;
    assert_eq!(
        sixth.error(StatusCode::UNPROCESSABLE_ENTITY),
        "Validation failed: You have already pinned the maximum number of toots"
    );
    let bobs = h.status(&bob, "bob's", "public").await;
    let foreign = h.post(&format!("/api/v1/statuses/{bobs}/pin"), Some(&alice.token), json!({})).await;
    assert_eq!(
        foreign.error(StatusCode::UNPROCESSABLE_ENTITY),
        "Validation failed: Someone else's post cannot be pinned"
    );

    // The profile's pins, newest pin first; the private one only to those who may see it.
    let path = format!("/api/v1/accounts/{}/statuses?pinned=true", alice.id);
    let own = h.get(&path, Some(&alice.token)).await.expect(StatusCode::OK);
    let expected: Vec<String> = posts[..5].iter().rev().cloned().collect();
    assert_eq!(ids(&own), expected);
    assert!(own.as_array().unwrap().iter().all(|s| s["pinned"] == true));
    let stranger = h.get(&path, Some(&bob.token)).await.expect(StatusCode::OK);
    assert_eq!(ids(&stranger).len(), 4, "the private pin is hidden");
    assert!(stranger.as_array().unwrap().iter().all(|s| s["pinned"] == false), "pinned is the viewer's own");
    let s = h.post(&format!("/api/v1/statuses/{}/unpin", posts[0]), Some(&alice.token), json!({})).await;
    assert_eq!(s.expect(StatusCode::OK)["pinned"], false);
    assert_eq!(ids(&h.get(&path, None).await.expect(StatusCode::OK)).len(), 3);
}

#[tokio::test]
async fn muting_a_conversation_shows_on_every_status_of_the_thread() {
    let h = Harness::new().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    let root = h.status(&alice, "a thread", "public").await;
    let reply = h
        .post("/api/v1/statuses", Some(&bob.token), json!({"status": "a reply", "in_reply_to_id": root}))
        .await
        .expect(StatusCode::OK)["id"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..2 {
        let s = h.post(&format!("/api/v1/statuses/{root}/mute"), Some(&bob.token), json!({})).await;
        assert_eq!(s.expect(StatusCode::OK)["muted"], true);
    }
    let context = h.get(&format!("/api/v1/statuses/{root}/context"), Some(&bob.token)).await.expect(StatusCode::OK);
    assert_eq!(context["descendants"][0]["id"], reply.as_str());
    assert_eq!(context["descendants"][0]["muted"], true, "the whole thread is muted");
    let theirs = h.get(&format!("/api/v1/statuses/{reply}"), Some(&alice.token)).await.expect(StatusCode::OK);
    assert_eq!(theirs["muted"], false, "a mute is the account's own");
    let s = h.post(&format!("/api/v1/statuses/{reply}/unmute"), Some(&bob.token), json!({})).await;
    assert_eq!(s.expect(StatusCode::OK)["muted"], false);
    let private = h.status(&alice, "followers only", "private").await;
    h.post(&format!("/api/v1/statuses/{private}/mute"), Some(&bob.token), json!({})).await.error(StatusCode::NOT_FOUND);
    h.post(&format!("/api/v1/statuses/{root}/mute"), None, json!({})).await.error(StatusCode::UNAUTHORIZED);
}
