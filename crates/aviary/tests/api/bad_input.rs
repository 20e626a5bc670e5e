//! Bad input gets a clear 4xx in Mastodon's error shape, never a 5xx, and
//! changes nothing that was already accepted.

use http::StatusCode;
use reqwest::Method;
use serde_json::{Value, json};

async fn error_of(resp: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.expect("errors are JSON");
    body["error"].as_str().expect("errors carry an `error` string").to_string()
}

#[tokio::test]
async fn status_text_must_be_present_and_at_most_500_characters() {
    let s = crate::start().await;
    let api = s.api();
    let u = api.sign_up("writer").await;
    for text in ["", "   ", &"é".repeat(501)] {
        let r = api.post_json("/api/v1/statuses", Some(&u.token), json!({"status": text})).await;
        let msg = error_of(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(msg.starts_with("Validation failed"), "{msg}");
    }
    let r = api.post_json("/api/v1/statuses", Some(&u.token), json!({"status": "é".repeat(500)})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = api.post_json("/api/v1/statuses", Some(&u.token), json!({"status": "x", "visibility": "secret"})).await;
    error_of(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    // A NUL character (which PostgreSQL cannot store) anywhere, in any form.
    let r = api.post_json("/api/v1/statuses", Some(&u.token), json!({"status": "a\u{0}b #t\u{0}g"})).await;
    error_of(r, StatusCode::BAD_REQUEST).await;
    let r = api.post_json("/api/v1/statuses", Some(&u.token), json!({"status": "ok", "spoiler_text": "\u{0}"})).await;
    error_of(r, StatusCode::BAD_REQUEST).await;
    // Only the one valid post exists.
    assert_eq!(api.all_pages(&format!("/api/v1/accounts/{}/statuses", u.id), None).await.len(), 1);
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let s = crate::start().await;
    let api = s.api();
    let u = api.sign_up("looker").await;
    for path in [
        "/api/v1/statuses/123456789",
        "/api/v1/statuses/123456789/context",
        "/api/v1/statuses/not-an-id",
        "/api/v1/accounts/123456789",
        "/api/v1/accounts/123456789/statuses",
        "/api/v1/accounts/123456789/followers",
        "/api/v1/accounts/lookup?acct=nobody",
        "/api/v1/no/such/route",
    ] {
        let msg = error_of(api.get(path, Some(&u.token)).await, StatusCode::NOT_FOUND).await;
        assert_eq!(msg, "Record not found", "{path}");
    }
    let r = api.post_json("/api/v1/accounts/123456789/follow", Some(&u.token), json!({})).await;
    error_of(r, StatusCode::NOT_FOUND).await;
    let r = api.post_json("/api/v1/statuses", Some(&u.token), json!({"status": "re", "in_reply_to_id": "42"})).await;
    error_of(r, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn missing_or_invalid_tokens_are_401() {
    let s = crate::start().await;
    let api = s.api();
    let r = api.get("/api/v1/timelines/home", None).await;
    assert_eq!(error_of(r, StatusCode::UNAUTHORIZED).await, "The access token is invalid");
    let r = api.post_json("/api/v1/statuses", None, json!({"status": "hi"})).await;
    error_of(r, StatusCode::UNAUTHORIZED).await;
    // A bad token on a public endpoint is refused, not treated as anonymous.
    error_of(api.get("/api/v1/timelines/public", Some("bogus")).await, StatusCode::UNAUTHORIZED).await;
    let r = api
        .request(Method::GET, "/api/v1/timelines/home", None)
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::UNAUTHORIZED).await;
    // A revoked token stops working at once.
    let app = api.register_app("read write").await;
    let u = api.sign_up_with(&app, "revoker").await;
    let r = api
        .post_json(
            "/oauth/revoke",
            None,
            json!({"client_id": app.client_id, "client_secret": app.client_secret, "token": u.token}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    error_of(api.get("/api/v1/accounts/verify_credentials", Some(&u.token)).await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_token_without_the_needed_scope_is_403() {
    let s = crate::start().await;
    let api = s.api();
    let reader_app = api.register_app("read write:accounts").await;
    let reader = api.sign_up_with(&reader_app, "reader").await;
    let r = api.post_json("/api/v1/statuses", Some(&reader.token), json!({"status": "hi"})).await;
    assert_eq!(error_of(r, StatusCode::FORBIDDEN).await, "This action is outside the authorized scopes");
    let r = api.post_json(&format!("/api/v1/accounts/{}/follow", reader.id), Some(&reader.token), json!({})).await;
    error_of(r, StatusCode::FORBIDDEN).await;
    // Granular scopes: write:statuses may post but not read the home timeline.
    let writer_app = api.register_app("write:statuses write:accounts profile").await;
    let writer = api.sign_up_with(&writer_app, "writer").await;
    assert_eq!(api.post_json("/api/v1/statuses", Some(&writer.token), json!({"status": "ok"})).await.status(), 200);
    error_of(api.get("/api/v1/timelines/home", Some(&writer.token)).await, StatusCode::FORBIDDEN).await;
    // An app token is not a user.
    let r = api.get("/api/v1/accounts/verify_credentials", Some(&reader_app.token)).await;
    error_of(r, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn another_accounts_private_post_is_404_to_read_and_delete_and_survives() {
    let s = crate::start().await;
    let api = s.api();
    let owner = api.sign_up("owner").await;
    let other = api.sign_up("other").await;
    let id = api.post(&owner, "for followers only", "private").await;
    let path = format!("/api/v1/statuses/{id}");
    error_of(api.get(&path, Some(&other.token)).await, StatusCode::NOT_FOUND).await;
    error_of(api.get(&path, None).await, StatusCode::NOT_FOUND).await;
    error_of(api.get(&format!("{path}/context"), Some(&other.token)).await, StatusCode::NOT_FOUND).await;
    error_of(api.delete(&path, Some(&other.token)).await, StatusCode::NOT_FOUND).await;
    // Someone else's public post cannot be deleted either.
    let public = api.post(&owner, "public", "public").await;
    error_of(api.delete(&format!("/api/v1/statuses/{public}"), Some(&other.token)).await, StatusCode::NOT_FOUND).await;
    // Nothing changed: both posts are still there for their author.
    let mine = api.expect(api.get(&path, Some(&owner.token)).await, StatusCode::OK).await;
    assert_eq!(mine["id"], id);
    assert_eq!(api.all_pages(&format!("/api/v1/accounts/{}/statuses", owner.id), Some(&owner.token)).await.len(), 2);
    // A follower may read it.
    api.follow(&other, &owner).await;
    assert_eq!(api.get(&path, Some(&other.token)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn malformed_bodies_are_400_or_422_and_oversized_ones_413() {
    let s = crate::start().await;
    let api = s.api();
    let u = api.sign_up("sender").await;
    let send = |ct: &'static str, body: Vec<u8>| {
        api.request(Method::POST, "/api/v1/statuses", Some(&u.token)).header("content-type", ct).body(body).send()
    };
    let msg =
        error_of(send("application/json", b"{\"status\": ".to_vec()).await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert!(msg.contains("Malformed JSON"), "{msg}");
    error_of(send("application/json", b"[\"status\"]".to_vec()).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
    error_of(
        send("application/x-www-form-urlencoded", b"status=hi&sensitive=maybe".to_vec()).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    error_of(
        send("application/x-www-form-urlencoded", vec![b's', b'=', 0xff, 0xfe]).await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    error_of(send("text/plain", b"status=hi".to_vec()).await.unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    error_of(send("multipart/form-data", b"garbage".to_vec()).await.unwrap(), StatusCode::BAD_REQUEST).await;
    let huge = format!("status={}", "a".repeat(2 * 1024 * 1024)).into_bytes();
    let refused = send("application/x-www-form-urlencoded", huge).await.unwrap();
    // The unread body ends the connection; the answer says so, or a pooled
    // client would send its next request into the closing connection.
    assert_eq!(refused.headers().get("connection").map(|v| v.to_str().unwrap()), Some("close"));
    error_of(refused, StatusCode::PAYLOAD_TOO_LARGE).await;
    let r = api.get("/api/v1/timelines/public?max_id=abc", None).await;
    error_of(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    // None of the above created a post.
    assert!(api.all_pages(&format!("/api/v1/accounts/{}/statuses", u.id), None).await.is_empty());
}

/// Garbage sent to every route never gets a 5xx, and every refusal is a
/// 4xx in the error envelope.
#[tokio::test]
async fn no_route_answers_garbage_with_a_server_error() {
    let s = crate::start().await;
    let api = s.api();
    let u = api.sign_up("fuzzer").await;
    let routes = [
        (Method::POST, "/api/v1/apps"),
        (Method::POST, "/oauth/token"),
        (Method::POST, "/oauth/revoke"),
        (Method::GET, "/oauth/authorize"),
        (Method::POST, "/oauth/authorize"),
        (Method::POST, "/api/v1/accounts"),
        (Method::PATCH, "/api/v1/accounts/update_credentials"),
        (Method::GET, "/api/v1/accounts/relationships"),
        (Method::GET, "/api/v1/accounts/lookup"),
        (Method::POST, "/api/v1/accounts/%00/follow"),
        (Method::GET, "/api/v1/accounts/-1/followers"),
        (Method::POST, "/api/v1/statuses"),
        (Method::DELETE, "/api/v1/statuses/99999999999999999999999"),
        (Method::GET, "/api/v1/timelines/home"),
        (Method::GET, "/api/v1/timelines/public"),
    ];
    let bodies: [(&str, &[u8]); 6] = [
        ("application/json", b"{}"),
        ("application/json", b"null"),
        ("application/json", b"{\"status\":{\"a\":[1,{\"b\":null}]},\"limit\":-1,\"scopes\":\"admin:all\"}"),
        (
            "application/x-www-form-urlencoded",
            b"limit=99999999999999999999&max_id=-5&scope=read%20nope&grant_type=password",
        ),
        ("application/x-www-form-urlencoded", b"&&&==&%%%"),
        ("application/octet-stream", b"\x00\x01\x02"),
    ];
    for (method, path) in &routes {
        for token in [None, Some(u.token.as_str())] {
            for (ct, body) in &bodies {
                let r = api
                    .request(method.clone(), path, token)
                    .header("content-type", *ct)
                    .body(body.to_vec())
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                assert!(
                    !status.is_server_error(),
                    "{method} {path} {ct} {:?} answered {status}",
                    String::from_utf8_lossy(body)
                );
                if status.is_client_error()
                    && r.headers()
                        .get("content-type")
                        .is_some_and(|c| c.to_str().unwrap().starts_with("application/json"))
                {
                    let v: Value = r.json().await.unwrap();
                    assert!(v["error"].is_string(), "{method} {path}: {v}");
                }
            }
        }
    }
    // Cursors at the edges of the id space.
    for cursor in ["min_id", "max_id", "since_id"] {
        for id in ["9223372036854775807", "1", "0"] {
            let path = format!("/api/v1/timelines/home?{cursor}={id}&limit=5");
            let status = api.get(&path, Some(&u.token)).await.status();
            assert!(!status.is_server_error(), "{path} answered {status}");
        }
    }
}
