//! Mentions, hashtags and direct posts at the handler level: the text
//! parsed once into `mentions` and `tags` and linked in `content`; the
//! tag timeline with `any[]`, `all[]` and `none[]`; tags shown, followed
//! and reaching the follower's home; direct posts seen only by their
//! author and the accounts they mention, and the conversations they make.

mod support;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Harness, User};

fn ids(page: &Value) -> Vec<String> {
    page.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect()
}

/// `who`'s home once it holds `id` (fan-out runs after the request).
async fn home_with(h: &Harness, who: &User, id: &str) -> Vec<String> {
    for _ in 0..200 {
        let home = ids(&h.get("/api/v1/timelines/home", Some(&who.token)).await.expect(StatusCode::OK));
        if home.iter().any(|i| i == id) {
            return home;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the home of account {} never held {id}", who.id);
}

async fn follow(h: &Harness, who: &User, whom: &User) {
    h.post(&format!("/api/v1/accounts/{}/follow", whom.id), Some(&who.token), json!({})).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn mentions_and_hashtags_are_parsed_linked_and_listed() {
    let h = Harness::new().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    let s = h
        .post(
            "/api/v1/statuses",
            Some(&alice.token),
            json!({"status": "hi @Bob, @nobody and @bob@elsewhere.org #Rust #rust #Zürich", "visibility": "public"}),
        )
        .await
        .expect(StatusCode::OK);
    let mentions = s["mentions"].as_array().unwrap();
    assert_eq!(mentions.len(), 1, "{mentions:?}");
    assert_eq!(mentions[0]["id"], bob.id.as_str());
    assert_eq!((mentions[0]["username"].as_str(), mentions[0]["acct"].as_str()), (Some("bob"), Some("bob")));
    assert!(mentions[0]["url"].as_str().unwrap().ends_with("/@bob"));
    let tags: Vec<&str> = s["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tags, ["Rust", "Zürich"], "each tag once, as first written");
    assert!(s["tags"][0]["url"].as_str().unwrap().ends_with("/tags/rust"));
    let content = s["content"].as_str().unwrap();
    assert!(content.contains(r#"class="u-url mention">@<span>bob</span></a></span>,"#), "{content}");
    assert!(content.contains("@nobody and @bob@elsewhere.org"), "unknown and remote names stay text: {content}");
    assert!(content.contains(r#"class="mention hashtag" rel="tag">#<span>Zürich</span>"#), "{content}");
    // Read back, the same.
    let again = h.get(&format!("/api/v1/statuses/{}", s["id"].as_str().unwrap()), None).await.expect(StatusCode::OK);
    assert_eq!(again["content"], s["content"]);
    assert_eq!(again["mentions"], s["mentions"]);

    // An edit parses again.
    let edited = h
        .call(
            Method::PUT,
            &format!("/api/v1/statuses/{}", s["id"].as_str().unwrap()),
            Some(&alice.token),
            Some(json!({"status": "now #Go only"})),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(edited["mentions"], json!([]));
    assert_eq!(edited["tags"][0]["name"], "Go");
    let rust = h.get("/api/v1/timelines/tag/rust", None).await.expect(StatusCode::OK);
    assert!(ids(&rust).is_empty(), "the edit took the post off #rust");
    assert_eq!(ids(&h.get("/api/v1/timelines/tag/go", None).await.expect(StatusCode::OK)).len(), 1);
}

#[tokio::test]
async fn a_mentioned_account_sees_a_private_post_that_others_do_not() {
    let h = Harness::new().await;
    let (alice, bob, carol) = (h.user("alice").await, h.user("bob").await, h.user("carol").await);
    let private = h.status(&alice, "psst @bob", "private").await;
    let path = format!("/api/v1/statuses/{private}");
    assert_eq!(h.get(&path, Some(&bob.token)).await.expect(StatusCode::OK)["id"], private.as_str());
    h.get(&path, Some(&carol.token)).await.error(StatusCode::NOT_FOUND);
    h.get(&path, None).await.error(StatusCode::NOT_FOUND);
    // Acting on it works for the mentioned account, not for another.
    h.post(&format!("{path}/favourite"), Some(&bob.token), json!({})).await.expect(StatusCode::OK);
    h.post(&format!("{path}/favourite"), Some(&carol.token), json!({})).await.error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_tag_timeline_takes_any_all_and_none() {
    let h = Harness::new().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    let rust = h.status(&alice, "#rust alone", "public").await;
    let both = h.status(&bob, "#Rust and #go", "public").await;
    let go = h.status(&bob, "#go alone", "public").await;
    h.status(&alice, "#rust but private", "private").await;
    let unlisted = h.status(&alice, "#rust but unlisted", "unlisted").await;
    let tl = |q: &str| {
        let h = &h;
        let q = q.to_string();
        async move { ids(&h.get(&format!("/api/v1/timelines/tag/{q}"), None).await.expect(StatusCode::OK)) }
    };
    assert_eq!(tl("rust").await, [both.as_str(), rust.as_str()], "public posts only, newest first");
    assert_eq!(tl("RUST").await, [both.as_str(), rust.as_str()], "any spelling");
    assert_eq!(tl("rust?none[]=go").await, [rust.as_str()]);
    assert_eq!(tl("rust?all[]=go").await, [both.as_str()]);
    assert_eq!(tl("rust?all[]=go&all[]=GO").await, [both.as_str()], "a tag named twice counts once");
    assert_eq!(tl("python?any[]=go&any[]=rust").await, [go.as_str(), both.as_str(), rust.as_str()]);
    assert_eq!(tl("rust?limit=1").await, [both.as_str()]);
    assert_eq!(tl(&format!("rust?max_id={both}")).await, [rust.as_str()]);
    assert!(tl("rust?only_media=true").await.is_empty() && tl("rust?remote=true").await.is_empty());
    assert_eq!(tl("rust?local=true").await.len(), 2);
    // An account's posts with a tag (`tagged`), as the viewer may see them.
    let profile = |q: &str| {
        let (h, path) = (&h, format!("/api/v1/accounts/{}/statuses?{q}", alice.id));
        async move { h.get(&path, None).await }
    };
    let public_and_unlisted = [unlisted.as_str(), rust.as_str()];
    assert_eq!(ids(&profile("tagged=Rust").await.expect(StatusCode::OK)), public_and_unlisted, "not the private one");
    assert_eq!(ids(&profile("tagged=%23rust&limit=1").await.expect(StatusCode::OK)), [unlisted.as_str()]);
    assert!(ids(&profile("tagged=go").await.expect(StatusCode::OK)).is_empty());
    assert_eq!(profile("tagged=a%20b").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A block hides the blocker's posts from the blocked.
    h.post(&format!("/api/v1/accounts/{}/block", bob.id), Some(&alice.token), json!({})).await.expect(StatusCode::OK);
    let seen = ids(&h.get("/api/v1/timelines/tag/rust", Some(&alice.token)).await.expect(StatusCode::OK));
    assert_eq!(seen, [rust.as_str()]);

    // Bad input.
    let five = "any[]=a&any[]=b&any[]=c&any[]=d&any[]=e";
    assert_eq!(
        h.get(&format!("/api/v1/timelines/tag/rust?{five}"), None).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(h.get("/api/v1/timelines/tag/rust?none[]=a%20b", None).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(h.get("/api/v1/timelines/tag/123", None).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(h.get("/api/v1/timelines/tag/rust?local=maybe", None).await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_followed_tag_brings_public_posts_home_until_unfollowed() {
    let h = Harness::new().await;
    let (alice, carol) = (h.user("alice").await, h.user("carol").await);
    let old = h.status(&alice, "an older #Rust post", "public").await;

    // Shown, also before anyone used it; then followed.
    let tag = h.get("/api/v1/tags/Rust", Some(&carol.token)).await.expect(StatusCode::OK);
    assert_eq!((tag["name"].as_str(), tag["following"].as_bool()), (Some("Rust"), Some(false)));
    let history = tag["history"].as_array().unwrap();
    assert_eq!(history.len(), 7);
    assert_eq!((history[0]["uses"].as_str(), history[0]["accounts"].as_str()), (Some("1"), Some("1")));
    assert_eq!(history[1]["uses"], "0");
    let unused = h.get("/api/v1/tags/neverused", None).await.expect(StatusCode::OK);
    assert_eq!((unused["name"].as_str(), unused["following"].as_bool()), (Some("neverused"), Some(false)));
    // The home first, so following must change a cached timeline.
    assert!(ids(&h.get("/api/v1/timelines/home", Some(&carol.token)).await.expect(StatusCode::OK)).is_empty());
    for _ in 0..2 {
        let t = h.post("/api/v1/tags/rust/follow", Some(&carol.token), json!({})).await.expect(StatusCode::OK);
        assert_eq!((t["name"].as_str(), t["following"].as_bool()), (Some("Rust"), Some(true)), "idempotent");
    }
    let followed = h.get("/api/v1/followed_tags", Some(&carol.token)).await.expect(StatusCode::OK);
    assert_eq!(followed[0]["name"], "Rust");
    assert_eq!(followed[0]["following"], true);

    // The older post by the rebuild, a new one by fan-out; not the private one.
    h.status(&alice, "#rust for followers", "private").await;
    let new = h.status(&alice, "a new #RUST post", "public").await;
    let home = home_with(&h, &carol, &new).await;
    assert_eq!(home, [new.as_str(), old.as_str()]);

    // Unfollowed, they go (the home is rebuilt without them).
    h.post("/api/v1/tags/rust/unfollow", Some(&carol.token), json!({})).await.expect(StatusCode::OK);
    let mut gone = false;
    for _ in 0..200 {
        if ids(&h.get("/api/v1/timelines/home", Some(&carol.token)).await.expect(StatusCode::OK)).is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(gone, "an unfollowed tag's posts left the home");
    assert_eq!(h.get("/api/v1/followed_tags", Some(&carol.token)).await.expect(StatusCode::OK), json!([]));

    // Bad input and access.
    h.get("/api/v1/tags/123", None).await.error(StatusCode::NOT_FOUND);
    h.get("/api/v1/tags/a%20b", None).await.error(StatusCode::NOT_FOUND);
    h.post(&format!("/api/v1/tags/{}/follow", "x".repeat(101)), Some(&carol.token), json!({}))
        .await
        .error(StatusCode::NOT_FOUND);
    h.post("/api/v1/tags/rust/follow", None, json!({})).await.error(StatusCode::UNAUTHORIZED);
    h.get("/api/v1/followed_tags", None).await.error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_direct_post_reaches_only_its_mentioned_accounts_and_makes_a_conversation() {
    let h = Harness::new().await;
    let (alice, bob, carol) = (h.user("alice").await, h.user("bob").await, h.user("carol").await);
    follow(&h, &bob, &alice).await;
    follow(&h, &carol, &alice).await;
    h.post("/api/v1/tags/secret/follow", Some(&carol.token), json!({})).await.expect(StatusCode::OK);
    let dm = h.status(&alice, "@bob a #secret", "direct").await;
    let after = h.status(&alice, "a public post after it", "public").await;

    // Homes: the mentioned follower's and the author's, not another follower's.
    assert_eq!(home_with(&h, &bob, &after).await, [after.as_str(), dm.as_str()]);
    assert_eq!(home_with(&h, &carol, &after).await, [after.as_str()]);
    assert_eq!(home_with(&h, &alice, &after).await, [after.as_str(), dm.as_str()]);
    // Nowhere public.
    assert_eq!(ids(&h.get("/api/v1/timelines/public", None).await.expect(StatusCode::OK)), [after.as_str()]);
    assert!(ids(&h.get("/api/v1/timelines/tag/secret", Some(&bob.token)).await.expect(StatusCode::OK)).is_empty());
    // By id: the author and the mentioned.
    let path = format!("/api/v1/statuses/{dm}");
    assert_eq!(h.get(&path, Some(&bob.token)).await.expect(StatusCode::OK)["visibility"], "direct");
    h.get(&path, Some(&carol.token)).await.error(StatusCode::NOT_FOUND);
    h.get(&format!("{path}/context"), Some(&carol.token)).await.error(StatusCode::NOT_FOUND);
    let profile = |who: &User| {
        let (h, path) = (&h, format!("/api/v1/accounts/{}/statuses", alice.id));
        let token = who.token.clone();
        async move { ids(&h.get(&path, Some(&token)).await.expect(StatusCode::OK)) }
    };
    assert_eq!(profile(&alice).await, [after.as_str(), dm.as_str()], "the author's own profile");
    assert_eq!(profile(&bob).await, [after.as_str()], "the mentioned read it in their conversations");
    assert_eq!(profile(&carol).await, [after.as_str()]);
    // Never boosted, never pinned.
    assert_eq!(
        h.post(&format!("{path}/reblog"), Some(&alice.token), json!({})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        h.post(&format!("{path}/reblog"), Some(&bob.token), json!({})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        h.post(&format!("{path}/pin"), Some(&alice.token), json!({})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let public = format!("/api/v1/statuses/{after}/reblog");
    let direct_boost = h.post(&public, Some(&bob.token), json!({"visibility": "direct"})).await;
    assert_eq!(direct_boost.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Conversations: unread for the mentioned, read for the author.
    let convs = |who: &User| {
        let h = &h;
        let token = who.token.clone();
        async move { h.get("/api/v1/conversations", Some(&token)).await.expect(StatusCode::OK) }
    };
    let b = convs(&bob).await;
    assert_eq!(b.as_array().unwrap().len(), 1, "{b}");
    assert_eq!((b[0]["unread"].as_bool(), b[0]["last_status"]["id"].as_str()), (Some(true), Some(dm.as_str())));
    assert_eq!(b[0]["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(b[0]["accounts"][0]["id"], alice.id.as_str());
    let conv = b[0]["id"].as_str().unwrap().to_string();
    let a = convs(&alice).await;
    assert_eq!((a[0]["id"].as_str(), a[0]["unread"].as_bool()), (Some(conv.as_str()), Some(false)));
    assert_eq!(a[0]["accounts"][0]["id"], bob.id.as_str());
    assert_eq!(convs(&carol).await, json!([]));
    let read = h.post(&format!("/api/v1/conversations/{conv}/read"), Some(&bob.token), json!({})).await;
    assert_eq!(read.expect(StatusCode::OK)["unread"], false);
    assert_eq!(convs(&bob).await[0]["unread"], false);

    // A reply in the thread: unread for alice, the same conversation.
    let reply = h
        .post(
            "/api/v1/statuses",
            Some(&bob.token),
            json!({"status": "@alice got it", "visibility": "direct", "in_reply_to_id": dm}),
        )
        .await
        .expect(StatusCode::OK)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = convs(&alice).await;
    assert_eq!((a[0]["id"].as_str(), a[0]["unread"].as_bool()), (Some(conv.as_str()), Some(true)));
    assert_eq!(a[0]["last_status"]["id"], reply.as_str());
    // Removed: gone for alice until a newer post, still there for bob.
    h.call(Method::DELETE, &format!("/api/v1/conversations/{conv}"), Some(&alice.token), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(convs(&alice).await, json!([]));
    assert_eq!(convs(&bob).await.as_array().unwrap().len(), 1);
    h.post(
        "/api/v1/statuses",
        Some(&bob.token),
        json!({"status": "@alice hello?", "visibility": "direct", "in_reply_to_id": reply}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(convs(&alice).await[0]["unread"], true);

    // Another's conversation, unknown ids, no token.
    for who in [&carol] {
        let read = format!("/api/v1/conversations/{conv}/read");
        h.post(&read, Some(&who.token), json!({})).await.error(StatusCode::NOT_FOUND);
        h.call(Method::DELETE, &format!("/api/v1/conversations/{conv}"), Some(&who.token), None)
            .await
            .error(StatusCode::NOT_FOUND);
    }
    h.post("/api/v1/conversations/abc/read", Some(&bob.token), json!({})).await.error(StatusCode::NOT_FOUND);
    h.get("/api/v1/conversations", None).await.error(StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.get("/api/v1/conversations?limit=zz", Some(&bob.token)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}
