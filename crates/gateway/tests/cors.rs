//! Cross-origin rules (`cors`) and the 405 answer, at the handler level.

mod support;

use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use support::{Answer, Harness};

const ORIGIN: &str = "https://elk.example";

async fn preflight(h: &Harness, path: &str, method: &str, headers: &str) -> Answer {
    let req = Request::builder()
        .method(Method::OPTIONS)
        .uri(path)
        .header(header::ORIGIN, ORIGIN)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers)
        .body(Body::empty())
        .unwrap();
    h.send(req).await
}

fn header(a: &Answer, name: header::HeaderName) -> Option<&str> {
    a.headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn api_preflights_are_answered_with_any_origin_and_the_asked_headers() {
    let h = Harness::new().await;
    for path in ["/api/v1/apps", "/api/v1/timelines/home", "/api/v1/statuses/123", "/api/v1/nonesuch"] {
        let a = preflight(&h, path, "POST", "authorization,content-type,idempotency-key").await;
        assert!(a.status.is_success(), "{path}: {}", a.status);
        assert_eq!(header(&a, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"), "{path}");
        let methods = header(&a, header::ACCESS_CONTROL_ALLOW_METHODS).unwrap();
        for m in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            assert!(methods.contains(m), "{path}: {methods}");
        }
        assert_eq!(
            header(&a, header::ACCESS_CONTROL_ALLOW_HEADERS),
            Some("authorization,content-type,idempotency-key"),
            "{path}"
        );
        assert!(a.headers.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none(), "{path}");
    }
    // The token endpoints take POST.
    for path in ["/oauth/token", "/oauth/revoke"] {
        let a = preflight(&h, path, "POST", "content-type").await;
        assert!(a.status.is_success(), "{path}: {}", a.status);
        assert_eq!(header(&a, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"), "{path}");
        assert_eq!(header(&a, header::ACCESS_CONTROL_ALLOW_METHODS), Some("POST"), "{path}");
    }
}

#[tokio::test]
async fn api_answers_expose_link_rate_limit_and_request_id_headers_even_on_errors() {
    let h = Harness::new().await;
    for (path, status) in [("/api/v1/instance", StatusCode::OK), ("/api/v1/timelines/home", StatusCode::UNAUTHORIZED)] {
        let req = Request::get(path).header(header::ORIGIN, ORIGIN).body(Body::empty()).unwrap();
        let a = h.send(req).await;
        assert_eq!(a.status, status, "{path}");
        assert_eq!(header(&a, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"), "{path}");
        let exposed = header(&a, header::ACCESS_CONTROL_EXPOSE_HEADERS).unwrap().to_ascii_lowercase();
        for name in ["link", "x-ratelimit-reset", "x-ratelimit-limit", "x-ratelimit-remaining", "x-request-id"] {
            assert!(exposed.contains(name), "{path}: {exposed}");
        }
    }
}

#[tokio::test]
async fn the_authorize_page_and_internal_routes_get_no_cors_headers() {
    let h = Harness::new().await;
    for path in ["/oauth/authorize", "/internal/users/authenticate", "/metrics", "/readyz"] {
        let a = preflight(&h, path, "GET", "authorization").await;
        assert!(a.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{path}: {:?}", a.headers);
        assert!(!a.status.is_success(), "{path}: a preflight must not succeed, got {}", a.status);
        let req = Request::get(path).header(header::ORIGIN, ORIGIN).body(Body::empty()).unwrap();
        let a = h.send(req).await;
        assert!(a.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{path}: {:?}", a.headers);
    }
}

#[tokio::test]
async fn a_wrong_method_on_a_known_path_is_a_405_in_mastodons_shape_with_allow() {
    let h = Harness::new().await;
    let a = h.call(Method::DELETE, "/api/v1/timelines/home", None, None).await;
    let allow = header(&a, header::ALLOW).unwrap_or_default().to_string();
    assert_eq!(a.error(StatusCode::METHOD_NOT_ALLOWED), "Method not allowed");
    assert!(allow.contains("GET"), "Allow: {allow}");
    let a = h.call(Method::PUT, "/oauth/token", None, None).await;
    assert!(header(&a, header::ALLOW).unwrap_or_default().contains("POST"));
    assert_eq!(a.error(StatusCode::METHOD_NOT_ALLOWED), "Method not allowed");
}
