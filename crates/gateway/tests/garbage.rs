//! Garbage on every interaction route: 40 pages of malformed ids, paging
//! parameters and bodies per route, each answered with a 4xx in Mastodon's
//! shape (or a 2xx where the garbage is ignored, as Mastodon ignores
//! unknown parameters) — never a 5xx, never a panic.

mod support;

use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use serde_json::json;
use support::Harness;

const ROUTES: &[(Method, &str)] = &[
    (Method::POST, "/api/v1/statuses/{id}/favourite"),
    (Method::POST, "/api/v1/statuses/{id}/unfavourite"),
    (Method::POST, "/api/v1/statuses/{id}/bookmark"),
    (Method::POST, "/api/v1/statuses/{id}/unbookmark"),
    (Method::POST, "/api/v1/statuses/{id}/pin"),
    (Method::POST, "/api/v1/statuses/{id}/unpin"),
    (Method::POST, "/api/v1/statuses/{id}/mute"),
    (Method::POST, "/api/v1/statuses/{id}/unmute"),
    (Method::GET, "/api/v1/statuses/{id}/favourited_by"),
    (Method::POST, "/api/v1/statuses/{id}/reblog"),
    (Method::POST, "/api/v1/statuses/{id}/unreblog"),
    (Method::GET, "/api/v1/statuses/{id}/reblogged_by"),
    (Method::GET, "/api/v1/favourites"),
    (Method::POST, "/api/v1/accounts/{id}/block"),
    (Method::POST, "/api/v1/accounts/{id}/unblock"),
    (Method::POST, "/api/v1/accounts/{id}/mute"),
    (Method::POST, "/api/v1/accounts/{id}/unmute"),
    (Method::POST, "/api/v1/accounts/{id}/follow"),
    (Method::GET, "/api/v1/blocks"),
    (Method::GET, "/api/v1/mutes"),
    (Method::GET, "/api/v1/bookmarks"),
    (Method::GET, "/api/v1/follow_requests"),
    (Method::POST, "/api/v1/follow_requests/{id}/authorize"),
    (Method::POST, "/api/v1/follow_requests/{id}/reject"),
    (Method::GET, "/api/v1/accounts/{id}/statuses"),
    (Method::PATCH, "/api/v1/accounts/update_credentials"),
    (Method::POST, "/api/v1/statuses"),
    (Method::PUT, "/api/v1/statuses/{id}"),
    (Method::GET, "/api/v1/tags/{id}"),
    (Method::POST, "/api/v1/tags/{id}/follow"),
    (Method::POST, "/api/v1/tags/{id}/unfollow"),
    (Method::GET, "/api/v1/followed_tags"),
    (Method::GET, "/api/v1/timelines/tag/{id}"),
    (Method::GET, "/api/v1/conversations"),
    (Method::POST, "/api/v1/conversations/{id}/read"),
    (Method::DELETE, "/api/v1/conversations/{id}"),
    (Method::GET, "/api/v1/polls/{id}"),
    (Method::POST, "/api/v1/polls/{id}/votes"),
    (Method::GET, "/api/v1/markers"),
    (Method::POST, "/api/v1/markers"),
    (Method::GET, "/api/v1/notifications/unread_count"),
];

const IDS: &[&str] = &["abc", "-1", "0", "99999999999999999999999", "%00", "1e9", "%E2%80%AE", "{id}", "..", "1%201"];

const QUERIES: &[&str] = &[
    "limit=zz",
    "limit=-5",
    "limit=99999999999999999999",
    "max_id=x",
    "min_id[]=1&min_id[]=2",
    "since_id=%ff",
    "pinned=maybe",
    "exclude_replies=2",
    "limit[]=3",
    "%ZZ=1",
    "max_id=1&min_id=2&since_id=3&limit=0",
    "locked=perhaps",
    "any[]=a%20b&all[]=1&none[]=",
    "any[]=a&any[]=b&any[]=c&any[]=d&any[]=e",
    "visibility=direct&status=%40%40%40%23%23",
    "local=maybe&only_media=x",
    "choices[]=9&choices[]=-1&choices[]=x",
    "poll[options][]=a&poll[expires_in]=zz&poll[multiple]=maybe",
    "timeline[]=home&timeline[]=%00&home[last_read_id]=-9",
];

const BODIES: &[(&str, &str)] = &[
    ("application/json", "{not json"),
    ("application/json", "[1,2,3]"),
    ("application/json", "{\"locked\": {\"nested\": true}}"),
    ("application/json", "{\"display_name\": 12}"),
    ("application/x-www-form-urlencoded", "locked=%ff%fe"),
    ("application/x-www-form-urlencoded", "a=1&a=2&a[]=3"),
    ("text/plain", "hello"),
    ("multipart/form-data; boundary=x", "--x\r\nnonsense"),
    ("application/json", "{\"status\": \"@@a@ #\\u0000 @x@y@z\", \"visibility\": \"direct\"}"),
    ("application/x-www-form-urlencoded", "status=%23%E2%80%AE%40a&visibility=secret"),
    ("application/json", "{\"status\": \"q\", \"poll\": {\"options\": [[1], {\"a\": 2}], \"expires_in\": 1e99}}"),
    ("application/json", "{\"choices\": [99999999999, null, -1]}"),
];

#[tokio::test]
async fn forty_pages_of_garbage_per_route_get_a_4xx_in_mastodons_shape() {
    let h = Harness::new().await;
    let alice = h.user("alice").await;
    let real = h.status(&alice, "a real post", "public").await;
    let mut answered = 0;
    for (method, template) in ROUTES {
        for page in 0..40 {
            let id = if page % 4 == 0 { real.as_str() } else { IDS[page % IDS.len()] };
            let path = template.replace("{id}", id).replace("{account}", &alice.id);
            let query = QUERIES[page % QUERIES.len()];
            let (content_type, body) = BODIES[page % BODIES.len()];
            let mut req = Request::builder().method(method.clone()).uri(format!("{path}?{query}"));
            if page % 3 != 0 {
                req = req.header(header::AUTHORIZATION, format!("Bearer {}", alice.token));
            }
            let req = req.header(header::CONTENT_TYPE, content_type).body(Body::from(body)).unwrap();
            let a = h.send(req).await;
            let shown = format!("{method} {path}?{query} [{content_type}] {body:?} → {} {}", a.status, a.text);
            assert!(a.status.as_u16() < 500, "{shown}");
            if !a.status.is_success() {
                assert!(a.status.is_client_error(), "{shown}");
                assert!(a.body["error"].is_string(), "not in Mastodon's shape: {shown}");
            }
            answered += 1;
        }
    }
    assert_eq!(answered, ROUTES.len() * 40);
    // And the server still works.
    let s = h.post(&format!("/api/v1/statuses/{real}/favourite"), Some(&alice.token), json!({})).await;
    assert_eq!(s.expect(StatusCode::OK)["favourited"], true);
}
