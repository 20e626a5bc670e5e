//! Restarting the real binary on the same store loses nothing: accounts,
//! follows and posts are in SQLite or PostgreSQL, and home timelines (held in
//! memory) are rebuilt complete on first read.

use http::StatusCode;
use std::path::Path;
use testkit::{Api, ProcessServer, TestStore, User};

use crate::BIN;

async fn snapshot(api: &Api, users: &[User]) -> Vec<(serde_json::Value, Vec<String>)> {
    let mut out = Vec::new();
    for u in users {
        let me = api.expect(api.get("/api/v1/accounts/verify_credentials", Some(&u.token)).await, StatusCode::OK).await;
        let account = serde_json::json!({
            "id": me["id"], "username": me["username"], "followers": me["followers_count"],
            "following": me["following_count"], "statuses": me["statuses_count"],
        });
        out.push((account, api.home_ids(u).await));
    }
    out
}

async fn scenario(api: &Api) -> Vec<User> {
    let a = api.sign_up("anna").await;
    let b = api.sign_up("ben").await;
    let c = api.sign_up("cleo").await;
    api.follow(&b, &a).await;
    api.follow(&c, &a).await;
    api.follow(&c, &b).await;
    for i in 0..30 {
        api.post(&a, &format!("anna {i}"), ["public", "unlisted", "private"][i % 3]).await;
    }
    for i in 0..10 {
        api.post(&b, &format!("ben {i}"), "public").await;
    }
    api.home_eventually(&c, |ids| ids.len() == 40).await;
    vec![a, b, c]
}

async fn restart_keeps_everything(stop: impl AsyncFnOnce(ProcessServer), store: &TestStore) {
    let first = ProcessServer::start(Path::new(BIN), store).await;
    let api = first.api();
    let users = scenario(&api).await;
    let before = snapshot(&api, &users).await;
    assert_eq!(before[2].1.len(), 40, "cleo sees anna's and ben's posts");
    assert_eq!(before[1].1.len(), 40, "ben sees anna's and his own");
    stop(first).await;

    let second = ProcessServer::start(Path::new(BIN), store).await;
    let api = second.api();
    let after = snapshot(&api, &users).await;
    assert_eq!(before, after, "accounts, counts and complete home timelines survive");
    // The restarted server keeps working: fan-out to the rebuilt timelines.
    let id = api.post(&users[0], "after restart", "public").await;
    let home = api.home_eventually(&users[2], |ids| ids.first() == Some(&id)).await;
    assert_eq!(home.first(), Some(&id));
    assert_eq!(home.len(), 41);
    second.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_restart_on_the_same_data_loses_nothing() {
    let store = TestStore::new().await;
    restart_keeps_everything(async |s: ProcessServer| s.kill().await, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly_and_restart_loses_nothing() {
    let store = TestStore::new().await;
    restart_keeps_everything(
        async |s: ProcessServer| {
            let status = s.terminate().await;
            assert!(status.success(), "graceful shutdown exits 0, got {status}");
        },
        &store,
    )
    .await;
}
