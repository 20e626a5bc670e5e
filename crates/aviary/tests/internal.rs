//! Internal routes in split mode answer only calls that prove the
//! deployment's secret (`internal.secrets`), and accept the previous one
//! while a new one is rotated in.

use std::path::Path;
use testkit::SplitSystem;

const BIN: &str = env!("CARGO_BIN_EXE_aviary");

async fn call(base: &str, secret: Option<&str>) -> u16 {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/internal/users/account_count"))
        .header("content-type", "application/json")
        .body("null");
    if let Some(s) = secret {
        req = req.header(rpc::SECRET_HEADER, s);
    }
    req.send().await.expect("the users instance answers").status().as_u16()
}

#[tokio::test]
async fn internal_calls_need_the_secret_and_a_rotation_accepts_both() {
    let (new, old) = ("n".repeat(40), "o".repeat(40));
    let s = SplitSystem::start(Path::new(BIN), |c| c.internal.secrets = vec![new.clone(), old.clone()]).await;
    let users = s.instances("users")[0].base.clone();
    assert_eq!(call(&users, None).await, 401, "no secret");
    assert_eq!(call(&users, Some(&"x".repeat(40))).await, 401, "a wrong secret");
    assert_eq!(call(&users, Some(&new[..39])).await, 401, "a prefix of the secret");
    assert_eq!(call(&users, Some(&new)).await, 200, "the current secret");
    assert_eq!(call(&users, Some(&old)).await, 200, "the previous secret, while rotating");
    // The deployment's own calls carry the current secret: the API works.
    let api = s.api();
    let alice = api.sign_up("alice").await;
    assert!(api.home_ids(&alice).await.is_empty());
    // The public port never serves internal routes.
    let gateway = s.instances("gateway")[0].base.clone();
    assert_eq!(call(&gateway, Some(&new)).await, 404);
    s.stop().await;
}
