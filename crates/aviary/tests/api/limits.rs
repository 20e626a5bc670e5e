//! Rate limits at the edge, as Mastodon applies them, through every
//! gateway of the system (two sharing Redis in split mode): 429 with
//! `X-RateLimit-*` headers, per client address (behind a trusted front),
//! per account, and the stricter sign-up and deletion buckets.

use http::StatusCode;
use reqwest::{Method, Response};
use serde_json::json;
use testkit::Api;

fn remaining(r: &Response) -> u64 {
    r.headers()["x-ratelimit-remaining"].to_str().unwrap().parse().unwrap()
}

/// Limit as configured; reset within the bucket's period from now.
fn assert_headers(r: &Response, limit: u64) {
    let period_ms = if limit == 2 { 1_800_000 } else { 300_000 };
    assert_eq!(r.headers()["x-ratelimit-limit"], limit.to_string().as_str());
    let reset = r.headers()["x-ratelimit-reset"].to_str().unwrap();
    let reset = model::time_fmt::parse_rfc3339_millis(reset).expect("X-RateLimit-Reset is an RFC 3339 time");
    let ahead = reset - model::time_fmt::now_millis();
    assert!((0..=period_ms).contains(&ahead), "reset {ahead} ms ahead");
}

async fn from(api: &Api, ip: &str, method: Method, path: &str, token: Option<&str>) -> Response {
    api.request(method, path, token).header("x-forwarded-for", ip).send().await.unwrap()
}

#[tokio::test]
async fn limits_hold_across_gateways_with_mastodons_headers() {
    let s = crate::start_with(|c| {
        c.rate_limits.enabled = true;
        c.rate_limits.per_ip.requests = 8;
        c.rate_limits.per_account.requests = 6;
        c.rate_limits.sign_up.requests = 2;
        c.rate_limits.delete.requests = 2;
        // The tests' requests come from the front's address; the client's
        // own is in X-Forwarded-For.
        c.http.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let api = s.api();

    // Per address: eight anonymous requests, alternating gateways, count
    // down one budget; the ninth is refused in Mastodon's error shape.
    for i in 0..8u64 {
        let r = from(&api, "203.0.113.1", Method::GET, "/api/v1/timelines/public", None).await;
        assert_eq!(r.status(), StatusCode::OK, "request {}", i + 1);
        assert_headers(&r, 8);
        assert_eq!(remaining(&r), 7 - i);
    }
    let r = from(&api, "203.0.113.1", Method::GET, "/api/v1/timelines/public", None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_headers(&r, 8);
    assert_eq!(remaining(&r), 0);
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), json!({"error": "Too many requests"}));
    // Another address is not affected; the address a client claims
    // directly (not through the front) is not believed.
    let r = from(&api, "203.0.113.2", Method::GET, "/api/v1/timelines/public", None).await;
    assert_eq!((r.status(), remaining(&r)), (StatusCode::OK, 7));

    // Sign-ups: at most two per address, however much general budget is left.
    let app = api.register_app("read write follow").await;
    let sign_up = |name: &str, ip: &str| {
        api.request(Method::POST, "/api/v1/accounts", Some(&app.token))
            .header("x-forwarded-for", ip)
            .json(&json!({"username": name, "email": format!("{name}@example.org"),
                          "password": "correct horse battery", "agreement": true, "locale": "en"}))
            .send()
    };
    let mut tokens = Vec::new();
    for (i, name) in ["first", "second", "third"].iter().enumerate() {
        let r = sign_up(name, "198.51.100.9").await.unwrap();
        if i < 2 {
            assert_eq!(r.status(), StatusCode::OK, "sign-up {}", i + 1);
            assert_headers(&r, 2);
            assert_eq!(remaining(&r), 1 - i as u64);
            tokens.push(r.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_string());
        } else {
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "third sign-up from one address");
        }
    }
    let lookup = api.get("/api/v1/accounts/lookup?acct=third", None).await;
    assert_eq!(lookup.status(), StatusCode::NOT_FOUND, "a refused sign-up created an account");

    // Per account, whatever the address: six requests, then 429; a second
    // account has its own budget.
    let (first, second) = (&tokens[0], &tokens[1]);
    let mut posted = Vec::new();
    for i in 0..6u64 {
        let ip = format!("192.0.2.{i}");
        let r = if i < 3 {
            from(&api, &ip, Method::GET, "/api/v1/accounts/verify_credentials", Some(first)).await
        } else {
            api.request(Method::POST, "/api/v1/statuses", Some(first))
                .header("x-forwarded-for", ip)
                .json(&json!({"status": format!("post {i}")}))
                .send()
                .await
                .unwrap()
        };
        assert_eq!(r.status(), StatusCode::OK, "request {} of the account", i + 1);
        assert_headers(&r, 6);
        assert_eq!(remaining(&r), 5 - i);
        if i >= 3 {
            posted.push(r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string());
        }
    }
    let r = from(&api, "192.0.2.99", Method::GET, "/api/v1/accounts/verify_credentials", Some(first)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = from(&api, "192.0.2.99", Method::GET, "/api/v1/accounts/verify_credentials", Some(second)).await;
    assert_eq!((r.status(), remaining(&r)), (StatusCode::OK, 5));

    // Deletions: two per account; the third is refused and the post stays.
    let r = sign_up("deleter", "198.51.100.10").await.unwrap();
    let deleter = r.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let second = &deleter;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let r = api.post_json("/api/v1/statuses", Some(second), json!({"status": format!("doomed {i}")})).await;
        statuses.push(api.expect(r, StatusCode::OK).await["id"].as_str().unwrap().to_string());
    }
    for (i, id) in statuses.iter().enumerate() {
        let r = api.delete(&format!("/api/v1/statuses/{id}"), Some(second)).await;
        if i < 2 {
            assert_eq!(r.status(), StatusCode::OK, "deletion {}", i + 1);
            assert_headers(&r, 2);
        } else {
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "third deletion");
            // Refused by the deletion bucket, not the account's general one.
            assert_headers(&r, 2);
        }
    }
    let kept = api.get(&format!("/api/v1/statuses/{}", statuses[2]), None).await;
    assert_eq!(kept.status(), StatusCode::OK, "the refused deletion deleted");
}
