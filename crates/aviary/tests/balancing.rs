//! The gateway's pools under faults, in split mode with three `posts`
//! instances and steady read traffic through both gateways: a `kill -9`d
//! instance costs no failed request and is back in rotation within seconds
//! of its restart; a hung (SIGSTOPped) one costs no failed request either,
//! and no request waits past its route's time budget.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use testkit::{Api, ProcessServer, SplitOptions, SplitSystem};
use tokio::sync::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_aviary");
/// The public route budget in these tests; a hung instance must not make
/// any request wait this long.
const ROUTE_TIMEOUT_MS: u64 = 3_000;

async fn three_posts() -> SplitSystem {
    let options = SplitOptions { posts_instances: Some(3), ..SplitOptions::default() };
    SplitSystem::start_with(Path::new(BIN), options, |c| {
        c.http.request_timeout_ms = ROUTE_TIMEOUT_MS;
        c.peers.pool.attempt_timeout_ms = 500;
        c.peers.pool.call_timeout_ms = 2_500;
        c.peers.pool.health_interval_ms = 250;
        c.peers.pool.health_timeout_ms = 200;
        c.peers.pool.eject_base_ms = 500;
    })
    .await
}

/// Internal calls an instance has served so far (from its /metrics).
async fn served(instance: &ProcessServer) -> u64 {
    let Ok(resp) = reqwest::get(format!("{}/metrics", instance.base)).await else { return 0 };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("aviary_http_requests_total{") && l.contains("route=\"/internal/posts/{method}\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

struct Load {
    stop: Arc<AtomicBool>,
    results: Arc<Mutex<Vec<(u16, Duration)>>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

/// Four clients reading pages of statuses (gateway → posts) back to back.
fn steady_reads(api: &Api, token: &str, pages: &[String]) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let results = Arc::new(Mutex::new(Vec::new()));
    let workers = (0..4)
        .map(|w| {
            let (api, token, pages) = (api.clone(), token.to_string(), pages.to_vec());
            let (stop, results) = (stop.clone(), results.clone());
            tokio::spawn(async move {
                let mut i = w;
                while !stop.load(Ordering::SeqCst) {
                    let t = Instant::now();
                    let path = &pages[i % pages.len()];
                    let status = match api.request(reqwest::Method::GET, path, Some(&token)).send().await {
                        Ok(r) => r.status().as_u16(),
                        Err(_) => 0,
                    };
                    results.lock().await.push((status, t.elapsed()));
                    i += 4;
                }
            })
        })
        .collect();
    Load { stop, results, workers }
}

impl Load {
    async fn finish(self) -> Vec<(u16, Duration)> {
        self.stop.store(true, Ordering::SeqCst);
        for w in self.workers {
            w.await.unwrap();
        }
        Arc::try_unwrap(self.results).unwrap().into_inner()
    }
}

fn report(results: &[(u16, Duration)]) -> (usize, Duration) {
    let failed: Vec<&(u16, Duration)> = results.iter().filter(|(s, _)| *s != 200).collect();
    let slowest = results.iter().map(|r| r.1).max().unwrap_or_default();
    assert!(
        failed.is_empty(),
        "{} of {} reads failed, e.g. {:?}",
        failed.len(),
        results.len(),
        &failed[..failed.len().min(5)]
    );
    (results.len(), slowest)
}

/// An account with twelve statuses; the load pages through them by
/// `max_id`, a keyset query on `posts` each time (single statuses would be
/// answered from the record cache without reaching `posts`).
async fn seed(api: &Api) -> (String, Vec<String>) {
    let u = api.sign_up("reader").await;
    let mut pages = Vec::new();
    for i in 0..12 {
        let id = api.post(&u, &format!("status {i}"), "public").await;
        pages.push(format!("/api/v1/accounts/{}/statuses?limit=3&max_id={id}", u.id));
    }
    (u.token, pages)
}

#[tokio::test]
async fn a_killed_posts_instance_fails_no_read_and_rejoins_after_restart() {
    let mut sys = three_posts().await;
    let api = sys.api();
    let (token, pages) = seed(&api).await;

    let load = steady_reads(&api, &token, &pages);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = served(&sys.instances("posts")[1]).await;
    assert!(before > 0, "instance 1 took no traffic before the kill");
    let addr = sys.kill("posts", 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    sys.restart_on("posts", 1, &addr).await;
    let restarted = Instant::now();
    let rejoined = loop {
        if served(&sys.instances("posts")[1]).await > 0 {
            break restarted.elapsed();
        }
        assert!(restarted.elapsed() < Duration::from_secs(10), "the restarted instance got no traffic in 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (reads, slowest) = report(&load.finish().await);
    eprintln!("kill -9: {reads} reads, none failed, slowest {slowest:?}; back in rotation {rejoined:?} after restart");
    assert!(rejoined < Duration::from_secs(5), "rejoined only after {rejoined:?}");
    sys.stop().await;
}

#[tokio::test]
async fn a_hung_posts_instance_fails_no_read_and_holds_none_past_the_route_timeout() {
    let sys = three_posts().await;
    let api = sys.api();
    let (token, pages) = seed(&api).await;

    let load = steady_reads(&api, &token, &pages);
    tokio::time::sleep(Duration::from_secs(2)).await;
    sys.instances("posts")[2].signal("STOP").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    sys.instances("posts")[2].signal("CONT").await;
    let resumed = Instant::now();
    let at_resume = served(&sys.instances("posts")[2]).await;
    let rejoined = loop {
        if served(&sys.instances("posts")[2]).await > at_resume + 1 {
            break resumed.elapsed();
        }
        assert!(resumed.elapsed() < Duration::from_secs(10), "the resumed instance got no traffic in 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (reads, slowest) = report(&load.finish().await);
    eprintln!("SIGSTOP: {reads} reads, none failed, slowest {slowest:?}; back in rotation {rejoined:?} after SIGCONT");
    assert!(slowest < Duration::from_millis(ROUTE_TIMEOUT_MS), "a read took {slowest:?}");
    sys.stop().await;
}
