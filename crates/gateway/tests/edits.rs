//! Edits at the handler level: `PUT /api/v1/statuses/:id`, its history and
//! source, and the edit on every timeline that holds the post.

mod support;

use http::{Method, StatusCode};
use serde_json::json;
use support::Harness;

#[tokio::test]
async fn an_edit_shows_everywhere_the_post_does_and_keeps_its_history() {
    let h = Harness::new().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    h.post(&format!("/api/v1/accounts/{}/follow", alice.id), Some(&bob.token), json!({})).await.expect(StatusCode::OK);
    let id = h.status(&alice, "first draft", "public").await;
    // Read once everywhere, so each path has the post before the edit.
    assert_eq!(
        h.get("/api/v1/timelines/home", Some(&bob.token)).await.expect(StatusCode::OK)[0]["edited_at"],
        json!(null)
    );
    let path = format!("/api/v1/statuses/{id}");
    let put = |token: String, body: serde_json::Value| {
        let (h, path) = (&h, path.clone());
        async move { h.call(Method::PUT, &path, Some(&token), Some(body)).await }
    };
    let edited =
        put(alice.token.clone(), json!({"status": "second draft", "spoiler_text": "cw"})).await.expect(StatusCode::OK);
    assert_eq!(edited["content"], "<p>second draft</p>");
    assert!(edited["edited_at"].is_string());
    for (path, token) in [
        ("/api/v1/timelines/home".to_string(), Some(&bob.token)),
        ("/api/v1/timelines/public".to_string(), None),
        (format!("/api/v1/accounts/{}/statuses", alice.id), None),
    ] {
        let page = h.get(&path, token.map(String::as_str)).await.expect(StatusCode::OK);
        assert_eq!(page[0]["content"], "<p>second draft</p>", "{path}");
        assert_eq!(page[0]["spoiler_text"], "cw", "{path}");
    }
    let history = h.get(&format!("/api/v1/statuses/{id}/history"), None).await.expect(StatusCode::OK);
    let contents: Vec<_> = history.as_array().unwrap().iter().map(|v| v["content"].clone()).collect();
    assert_eq!(contents, [json!("<p>first draft</p>"), json!("<p>second draft</p>")]);
    assert_eq!(history[0]["account"]["username"], "alice");
    let source = h.get(&format!("/api/v1/statuses/{id}/source"), Some(&alice.token)).await.expect(StatusCode::OK);
    assert_eq!((source["text"].clone(), source["spoiler_text"].clone()), (json!("second draft"), json!("cw")));

    // Someone else's post, bad input, no token.
    assert_eq!(
        put(bob.token.clone(), json!({"status": "mine now"})).await.error(StatusCode::NOT_FOUND),
        "Record not found"
    );
    h.get(&format!("/api/v1/statuses/{id}/source"), Some(&bob.token)).await.error(StatusCode::NOT_FOUND);
    assert_eq!(put(alice.token.clone(), json!({"status": ""})).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        put(alice.token.clone(), json!({"status": "x".repeat(501)})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        put(alice.token.clone(), json!({"status": "ok", "language": "not a language"})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    h.call(Method::PUT, &format!("/api/v1/statuses/{id}"), None, Some(json!({"status": "x"})))
        .await
        .error(StatusCode::UNAUTHORIZED);
    let private = h.status(&alice, "followers only", "private").await;
    let stranger = h.user("stranger").await;
    h.get(&format!("/api/v1/statuses/{private}/history"), Some(&stranger.token)).await.error(StatusCode::NOT_FOUND);
}
