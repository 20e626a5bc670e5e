//! `routes::oauth` at the handler level.

mod support;

use http::StatusCode;
use serde_json::json;
use support::Harness;

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client_and_a_wider_scope_invalid_scope() {
    let h = Harness::new().await;
    let (app, _) = h.app("read").await;
    let wrong = h
        .post(
            "/oauth/token",
            None,
            json!({"grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": "nope"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body["error"], "invalid_client");
    let wider = h
        .post(
            "/oauth/token",
            None,
            json!({"grant_type": "client_credentials", "client_id": app["client_id"],
                   "client_secret": app["client_secret"], "scope": "read write"}),
        )
        .await;
    assert_eq!(wider.status, StatusCode::BAD_REQUEST);
    assert_eq!(wider.body["error"], "invalid_scope");
}

#[tokio::test]
async fn the_password_grant_logs_in_and_a_wrong_password_is_invalid_grant() {
    let h = Harness::new().await;
    h.user("alice").await;
    let (app, _) = h.app("read").await;
    let login = |password: &'static str| {
        json!({"grant_type": "password", "client_id": app["client_id"], "client_secret": app["client_secret"],
               "username": "alice@example.org", "password": password, "scope": "read"})
    };
    let ok = h.post("/oauth/token", None, login("correct horse battery")).await.expect(StatusCode::OK);
    let token = ok["access_token"].as_str().unwrap();
    let me = h.get("/api/v1/accounts/verify_credentials", Some(token)).await.expect(StatusCode::OK);
    assert_eq!(me["username"], "alice");
    let bad = h.post("/oauth/token", None, login("wrong")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_revoked_token_stops_working() {
    let h = Harness::new().await;
    let (app, token) = h.app("read").await;
    h.get("/api/v1/apps/verify_credentials", Some(&token)).await.expect(StatusCode::OK);
    h.post(
        "/oauth/revoke",
        None,
        json!({"client_id": app["client_id"], "client_secret": app["client_secret"], "token": token}),
    )
    .await
    .expect(StatusCode::OK);
    h.get("/api/v1/apps/verify_credentials", Some(&token)).await.error(StatusCode::UNAUTHORIZED);
}
