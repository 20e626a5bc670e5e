//! `routes::preferences` at the handler level.

mod support;

use http::StatusCode;
use support::Harness;

#[tokio::test]
async fn preferences_are_mastodons_defaults_for_an_account_that_set_none() {
    let h = Harness::new().await;
    let alice = h.user("alice").await;
    let p = h.get("/api/v1/preferences", Some(&alice.token)).await.expect(StatusCode::OK);
    assert_eq!(p["posting:default:visibility"], "public");
    assert_eq!(p["posting:default:sensitive"], false);
    assert!(p["posting:default:language"].is_null());
    assert_eq!(p["reading:expand:media"], "default");
    assert_eq!(p["reading:expand:spoilers"], false);
}

#[tokio::test]
async fn preferences_need_a_user_token_with_read_accounts() {
    let h = Harness::new().await;
    assert_eq!(h.get("/api/v1/preferences", None).await.error(StatusCode::UNAUTHORIZED), "The access token is invalid");
    h.get("/api/v1/preferences", Some("not-a-token")).await.error(StatusCode::UNAUTHORIZED);
    // An app's own token speaks for no account.
    let (_, app_token) = h.app("read").await;
    h.get("/api/v1/preferences", Some(&app_token)).await.error(StatusCode::UNPROCESSABLE_ENTITY);
    // A token without a read scope may not read them.
    let write_only = h.user_with("bob", "write").await;
    h.get("/api/v1/preferences", Some(&write_only.token)).await.error(StatusCode::FORBIDDEN);
}
