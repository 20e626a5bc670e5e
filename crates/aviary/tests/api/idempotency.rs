//! `Idempotency-Key`: a retried post creates nothing new.

use http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_same_idempotency_key_twice_creates_one_status_and_returns_it() {
    let s = crate::start().await;
    let api = s.api();
    let u = api.sign_up("retrier").await;
    let send = |key: &'static str, text: &'static str| {
        api.request(reqwest::Method::POST, "/api/v1/statuses", Some(&u.token))
            .header("idempotency-key", key)
            .json(&json!({"status": text}))
            .send()
    };
    let first = api.expect(send("k-1", "once").await.unwrap(), StatusCode::OK).await;
    let second = api.expect(send("k-1", "once").await.unwrap(), StatusCode::OK).await;
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first["content"], second["content"]);
    // Concurrent retries with a fresh key also collapse to one post.
    let (a, b) = tokio::join!(send("k-2", "racing"), send("k-2", "racing"));
    let a = api.expect(a.unwrap(), StatusCode::OK).await;
    let b = api.expect(b.unwrap(), StatusCode::OK).await;
    assert_eq!(a["id"], b["id"]);
    // A different key is a different post; keys are per account.
    let other = api.expect(send("k-3", "once").await.unwrap(), StatusCode::OK).await;
    assert_ne!(other["id"], first["id"]);
    let v = api.sign_up("someone").await;
    let theirs = api
        .expect(
            api.request(reqwest::Method::POST, "/api/v1/statuses", Some(&v.token))
                .header("idempotency-key", "k-1")
                .json(&json!({"status": "mine"}))
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
    assert_ne!(theirs["id"], first["id"]);
    let statuses = api.all_pages(&format!("/api/v1/accounts/{}/statuses", u.id), None).await;
    assert_eq!(statuses.len(), 3, "k-1, k-2 and k-3 each made exactly one post");
    let acct = api.expect(api.get(&format!("/api/v1/accounts/{}", u.id), None).await, StatusCode::OK).await;
    assert_eq!(acct["statuses_count"], 3);
}
