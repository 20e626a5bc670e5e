//! Failure tests in split mode (every component its own process, two of
//! each, on PostgreSQL, Redis and RabbitMQ). Each kills, cuts or flushes
//! something while traffic flows, then asserts exact outcomes: every post
//! acknowledged to a client reaches every follower's home timeline, once.

use futures::StreamExt;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use testkit::{Api, SplitOptions, SplitSystem, User};

const BIN: &str = env!("CARGO_BIN_EXE_aviary");

async fn split(options: SplitOptions) -> SplitSystem {
    SplitSystem::start_with(Path::new(BIN), options, |_| {}).await
}

/// An author and `n` followers whose home timelines are already cached,
/// so fan-out (not a rebuild on read) must deliver what follows.
async fn audience(api: &Api, n: usize) -> (User, Vec<User>) {
    let author = api.sign_up("author").await;
    let mut followers = Vec::new();
    for i in 0..n {
        let f = api.sign_up(&format!("follower{i}")).await;
        api.follow(&f, &author).await;
        assert!(api.home_ids(&f).await.is_empty());
        followers.push(f);
    }
    (author, followers)
}

/// Posts `n` statuses, 8 at a time, calling `during(k)` after the k-th
/// acknowledgement; returns the acknowledged ids.
async fn burst(api: &Api, author: &User, n: usize, during: impl AsyncFn(usize)) -> Vec<String> {
    let acked = Arc::new(AtomicUsize::new(0));
    let mut posts = futures::stream::iter(0..n)
        .map(|i| {
            let (api, author, acked) = (api.clone(), author.clone(), acked.clone());
            async move {
                let id = api.post(&author, &format!("burst {i}"), "public").await;
                acked.fetch_add(1, Ordering::SeqCst);
                id
            }
        })
        .buffer_unordered(8);
    let mut ids = Vec::new();
    while let Some(id) = posts.next().await {
        ids.push(id);
        during(ids.len()).await;
    }
    ids
}

/// Every follower's home timeline holds exactly `want`, each once.
async fn assert_delivered(api: &Api, followers: &[User], want: &[String], within: Duration) {
    let want: HashSet<&String> = want.iter().collect();
    for f in followers {
        let home = api.home_within(f, within, |ids| ids.len() >= want.len()).await;
        let got: HashSet<&String> = home.iter().collect();
        assert_eq!(got.len(), home.len(), "{}: a post appears twice", f.username);
        let missing = want.difference(&got).count();
        let extra = got.difference(&want).count();
        assert_eq!((missing, extra), (0, 0), "{}: {missing} missing, {extra} unexpected", f.username);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_a_timelines_instance_mid_fan_out_loses_and_duplicates_nothing() {
    let mut sys = split(SplitOptions::default()).await;
    let api = sys.api();
    let (author, followers) = audience(&api, 10).await;
    let sys_ref = tokio::sync::Mutex::new(&mut sys);
    let ids = burst(&api, &author, 500, async |k| {
        if k == 100 {
            sys_ref.lock().await.kill("timelines", 0).await;
        }
        if k == 250 {
            sys_ref.lock().await.restart("timelines", 0).await;
        }
    })
    .await;
    assert_eq!(ids.len(), 500);
    assert_delivered(&api, &followers, &ids, Duration::from_secs(60)).await;
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rabbitmq_connections_cut_while_posting_lose_and_duplicate_nothing() {
    let sys = split(SplitOptions { proxy_rabbitmq: true, ..Default::default() }).await;
    let api = sys.api();
    let (author, followers) = audience(&api, 5).await;
    let proxy = sys.rabbitmq_proxy.clone().expect("proxied");
    let ids = burst(&api, &author, 200, async |k| match k {
        50 | 120 => proxy.cut().await,
        // A longer outage: refused for two seconds, as during a restart.
        160 => {
            proxy.block().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            proxy.restore();
        }
        _ => {}
    })
    .await;
    assert_eq!(ids.len(), 200, "posting never depends on the broker (the outbox holds events)");
    assert_delivered(&api, &followers, &ids, Duration::from_secs(60)).await;
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_flushall_under_traffic_loses_nothing() {
    let sys = split(SplitOptions { own_redis: true, ..Default::default() }).await;
    let api = sys.api();
    let (author, followers) = audience(&api, 5).await;
    let redis = sys.redis.as_ref().expect("a private Redis");
    let readers = {
        let (api, followers) = (api.clone(), followers.clone());
        tokio::spawn(async move {
            for _ in 0..20 {
                for f in &followers {
                    api.home_ids(f).await;
                }
            }
        })
    };
    let ids = burst(&api, &author, 150, async |k| {
        if k == 60 || k == 110 {
            assert!(redis.cli(&["flushall"]).contains("OK"));
        }
    })
    .await;
    readers.await.unwrap();
    assert_delivered(&api, &followers, &ids, Duration::from_secs(30)).await;
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_connection_loss_fails_fast_with_503_and_recovers_by_itself() {
    let sys = split(SplitOptions { proxy_postgres: true, ..Default::default() }).await;
    let api = sys.api();
    let user = api.sign_up("steady").await;
    api.post(&user, "before the outage", "public").await;
    let proxy = sys.postgres_proxy.clone().expect("proxied");

    proxy.block().await;
    // Routes that must query: a list of follows (users) and the public
    // timeline (posts). Single accounts and statuses may still be answered
    // from the record cache while the database is away.
    let followers = format!("/api/v1/accounts/{}/followers", user.id);
    for path in [followers.as_str(), "/api/v1/timelines/public"] {
        let started = Instant::now();
        let r = api.get(path, Some(&user.token)).await;
        let took = started.elapsed();
        assert_eq!(r.status(), 503, "{path} during the outage");
        assert!(r.headers().contains_key("retry-after"));
        assert!(took < Duration::from_secs(5), "{path} took {took:?}: it must fail fast, not hang");
    }
    let ready = api.get(&format!("{}/readyz", sys.instances("users")[0].base), None).await;
    assert_eq!(ready.status(), 503, "users reports its database as down");

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = api.get(&followers, Some(&user.token)).await;
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "not recovered 15 s after the database came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let id = api.post(&user, "after the outage", "public").await;
    assert!(api.all_pages("/api/v1/timelines/public", None).await.contains(&id));
    sys.stop().await;
}

/// The record cache must not bring a deleted post back: a post deleted
/// while Redis refuses writes (out of memory: reads still work) stays
/// cached for a moment, and is gone once Redis takes writes again — the
/// owner retries the tombstone it could not write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_post_deleted_while_redis_refuses_writes_does_not_come_back() {
    let sys = split(SplitOptions { own_redis: true, ..Default::default() }).await;
    let api = sys.api();
    let redis = sys.redis.as_ref().expect("a private Redis");
    let user = api.sign_up("deleter").await;
    let id = api.post(&user, "soon gone", "public").await;
    let path = format!("/api/v1/statuses/{id}");
    assert_eq!(api.get(&path, Some(&user.token)).await.status(), 200, "read once: the post is cached");

    assert!(redis.cli(&["config", "set", "maxmemory", "1"]).contains("OK"));
    let deleted = api.request(reqwest::Method::DELETE, &path, Some(&user.token)).send().await.unwrap();
    assert_eq!(deleted.status(), 200, "the deletion is committed whatever the cache says");
    let stale = api.get(&path, Some(&user.token)).await.status();
    assert!(redis.cli(&["config", "set", "maxmemory", "0"]).contains("OK"));

    let back = Instant::now();
    loop {
        let status = api.get(&path, Some(&user.token)).await.status();
        if status == 404 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "deleted post still served ({status}) 10 s after Redis took writes again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "while Redis refused writes the deleted post answered {stale}; gone {:?} after it took them again",
        back.elapsed()
    );
    for _ in 0..5 {
        assert_eq!(api.get(&path, Some(&user.token)).await.status(), 404, "and it stays gone");
    }
    sys.stop().await;
}
