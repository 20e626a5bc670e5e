//! Operability: health, readiness, metrics and request ids.

use http::StatusCode;

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let s = crate::start().await;
    // Metrics are per process: talk to one gateway only.
    let api = testkit::Api::new(&s.base());
    assert_eq!(api.get("/healthz", None).await.status(), StatusCode::OK);
    let ready = api.expect(api.get("/readyz", None).await, StatusCode::OK).await;
    assert_eq!(ready["status"], "ready");
    api.get("/api/v1/statuses/1", None).await;
    api.get("/api/v1/timelines/public", None).await;
    let text = api.get("/metrics", None).await.text().await.unwrap();
    assert!(
        text.contains(r#"aviary_http_requests_total{method="GET",route="/api/v1/statuses/{id}",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"aviary_http_request_duration_seconds_count{method="GET",route="/api/v1/timelines/public"} 1"#),
        "{text}"
    );
    // The status looked up (and not found) through the record cache.
    assert!(text.contains(r#"aviary_record_cache_lookups_total{kind="post",outcome="miss"} 1"#), "{text}");
}

#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let s = crate::start().await;
    let api = testkit::Api::new(&s.base());
    let before = api.get("/metrics", None).await.text().await.unwrap().len();
    for i in 0..100 {
        let method = reqwest::Method::from_bytes(format!("ATTACK{i}").as_bytes()).unwrap();
        let r = api.request(method, "/api/v1/instance", None).send().await.unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let text = api.get("/metrics", None).await.text().await.unwrap();
    assert!(!text.contains("ATTACK"), "a client's method became a label");
    assert!(text.contains(r#"method="OTHER""#), "{text}");
    // One new series (and its histogram), not one per method.
    assert!(text.len() < before + 4_000, "/metrics grew from {before} to {} bytes", text.len());
}

#[tokio::test]
async fn every_response_carries_a_request_id_echoing_the_clients() {
    let s = crate::start().await;
    let api = s.api();
    let r = api
        .request(reqwest::Method::GET, "/api/v1/instance", None)
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-42");
    let r = api.get("/nowhere", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let generated = r.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
}

#[tokio::test]
async fn instance_endpoints_describe_version_limits_and_registrations() {
    let s = crate::start_with(|c| c.instance.max_characters = 640).await;
    let api = s.api();
    let v1 = api.expect(api.get("/api/v1/instance/", None).await, StatusCode::OK).await;
    assert!(v1["version"].as_str().unwrap().starts_with("4."));
    assert_eq!(v1["configuration"]["statuses"]["max_characters"], 640);
    assert_eq!(v1["registrations"], true);
    let v2 = api.expect(api.get("/api/v2/instance", None).await, StatusCode::OK).await;
    assert_eq!(v2["registrations"]["enabled"], true);
    assert_eq!(v2["configuration"]["statuses"]["max_characters"], 640);
    assert_eq!(v2["api_versions"]["mastodon"], 2);
}
