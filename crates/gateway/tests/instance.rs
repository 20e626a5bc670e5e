//! `routes::instance` at the handler level.

mod support;

use http::StatusCode;
use support::Harness;

#[tokio::test]
async fn the_instance_reports_the_configured_limits_and_counts() {
    let h = Harness::with(|s| {
        s.instance.max_characters = 640;
        s.instance.title = "Test nest".into();
    })
    .await;
    h.user("alice").await;
    let v2 = h.get("/api/v2/instance", None).await.expect(StatusCode::OK);
    assert_eq!(v2["title"], "Test nest");
    assert_eq!(v2["configuration"]["statuses"]["max_characters"], 640);
    let v1 = h.get("/api/v1/instance", None).await.expect(StatusCode::OK);
    assert_eq!(v1["stats"]["user_count"], 1);
    assert_eq!(v1["configuration"]["statuses"]["max_characters"], 640);
}

#[tokio::test]
async fn an_unknown_path_is_a_404_in_mastodons_shape() {
    let h = Harness::new().await;
    assert_eq!(h.get("/api/v1/nonesuch", None).await.error(StatusCode::NOT_FOUND), "Record not found");
}
