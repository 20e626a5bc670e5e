//! Request bodies at the edge: each route's limit, and a declared length
//! over it refused before anything is read.

mod support;

use axum::body::Body;
use http::{Request, StatusCode, header};
use serde_json::json;
use support::Harness;

#[tokio::test]
async fn each_route_takes_bodies_up_to_its_own_limit() {
    let h = Harness::with(|s| {
        s.http.body_limit_bytes = 2048;
        s.http.route_body_limits_bytes.insert("/api/v1/statuses".into(), 16 * 1024);
    })
    .await;
    let alice = h.user("alice").await;
    let big = "x".repeat(4096);
    let apps =
        h.post("/api/v1/apps", None, json!({"client_name": big, "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"})).await;
    assert_eq!(apps.error(StatusCode::PAYLOAD_TOO_LARGE), "Request body too large");
    // The same size is read on a route allowed more (and then refused for
    // what it says, not for its size).
    let status = h.post("/api/v1/statuses", Some(&alice.token), json!({"status": big})).await;
    assert_eq!(status.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", status.body);
    let huge = "x".repeat(20 * 1024);
    let status = h.post("/api/v1/statuses", Some(&alice.token), json!({"status": huge})).await;
    assert_eq!(status.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_body_is_read() {
    let h = Harness::new().await;
    // The body never comes: only the declared length is looked at.
    let (_tx, body) = tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(1);
    let stream = tokio_stream_body(body);
    let req = Request::post("/api/v1/apps")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "99999999999")
        .body(stream)
        .unwrap();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(2), h.send(req)).await.expect("answered at once");
    assert_eq!(answer.headers[header::CONNECTION], "close");
    assert_eq!(answer.error(StatusCode::PAYLOAD_TOO_LARGE), "Request body too large");
}

fn tokio_stream_body(mut rx: tokio::sync::mpsc::Receiver<Result<axum::body::Bytes, std::io::Error>>) -> Body {
    let frames = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Body::from_stream(frames)
}
