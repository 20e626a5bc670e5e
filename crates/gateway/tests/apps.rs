//! `routes::apps` at the handler level.

mod support;

use http::StatusCode;
use serde_json::json;
use support::Harness;

#[tokio::test]
async fn a_registered_app_gets_credentials_and_its_token_names_it() {
    let h = Harness::new().await;
    let (app, token) = h.app("read write").await;
    assert!(app["client_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(app["client_secret"].as_str().is_some_and(|s| !s.is_empty()));
    let me = h.get("/api/v1/apps/verify_credentials", Some(&token)).await.expect(StatusCode::OK);
    assert_eq!(me["name"], "handler tests");
    assert!(me.get("client_secret").is_none_or(|s| s.is_null()), "{me}");
}

#[tokio::test]
async fn an_app_without_a_name_or_redirect_uri_is_refused() {
    let h = Harness::new().await;
    let no_name = h.post("/api/v1/apps", None, json!({"redirect_uris": "urn:ietf:wg:oauth:2.0:oob"})).await;
    assert!(no_name.status.is_client_error(), "{}", no_name.body);
    assert!(no_name.body["error"].is_string());
    let no_uri = h.post("/api/v1/apps", None, json!({"client_name": "x"})).await;
    assert!(no_uri.status.is_client_error(), "{}", no_uri.body);
    h.get("/api/v1/apps/verify_credentials", None).await.error(StatusCode::UNAUTHORIZED);
}
