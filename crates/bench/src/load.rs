//! The workload generator: a social graph seeded through the public API,
//! then an open-loop, constant-arrival-rate mix of reads and posts.
//!
//! *Open loop*: request `i` is due at `start + i / rate` whether or not
//! earlier ones have answered, as real users arrive; latency is measured
//! from the moment a request was *due*, not from when it was sent, so a
//! stalled server is charged for the requests that queued behind the stall
//! (the correction for coordinated omission). A closed-loop generator with
//! N connections would instead slow down with the server and hide it.
//!
//! *Fan-out lag*: for a sample of the posts, a few of the author's
//! followers poll their home timeline (the entries just above the post)
//! until it shows; the time from the post's acknowledgement to its first
//! sighting is the lag a user experiences.

use anyhow::{Context, bail};
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Who follows whom: `follows[a]` are the accounts `a` follows (indexes).
pub struct Graph {
    pub accounts: usize,
    pub follows: Vec<(u32, u32)>,
}

impl Graph {
    /// An edge list, one undirected edge `a b` a line (`%` and `#` lines
    /// are comments), followed in both directions as DeathStarBench does.
    pub fn from_edges(path: &Path) -> anyhow::Result<Graph> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut follows = Vec::new();
        let mut accounts = 0;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('%') || line.starts_with('#') {
                continue;
            }
            let mut it = line.split_whitespace().map(str::parse::<u32>);
            let (Some(Ok(a)), Some(Ok(b))) = (it.next(), it.next()) else {
                bail!("{}:{}: expected two account numbers, got {line:?}", path.display(), n + 1);
            };
            if a != b {
                follows.push((a, b));
                follows.push((b, a));
            }
            accounts = accounts.max(a as usize + 1).max(b as usize + 1);
        }
        follows.sort_unstable();
        follows.dedup();
        Ok(Graph { accounts, follows })
    }

    /// `accounts` accounts following `follows_each` others chosen with a
    /// power law (a few accounts gather most followers), plus `celebrities`
    /// accounts (the first ones) followed by `celebrity_followers` each.
    pub fn power_law(
        accounts: usize,
        follows_each: usize,
        celebrities: usize,
        celebrity_followers: usize,
        seed: u64,
    ) -> Graph {
        let mut rng = SplitMix(seed);
        let mut follows = Vec::new();
        for a in 0..accounts {
            for _ in 0..follows_each.min(accounts - 1) {
                // Inverse-transform sampling of a Zipf-like rank: 1/u - 1.
                let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
                let b = ((1.0 / (u + 1e-9) - 1.0) as usize) % accounts;
                if b != a {
                    follows.push((a as u32, b as u32));
                }
            }
        }
        for c in 0..celebrities.min(accounts) {
            let mut n = 0;
            let mut f = rng.next() as usize % accounts;
            while n < celebrity_followers.min(accounts - 1) {
                f = (f + 1) % accounts;
                if f != c {
                    follows.push((f as u32, c as u32));
                    n += 1;
                }
            }
        }
        follows.sort_unstable();
        follows.dedup();
        Graph { accounts, follows }
    }

    fn followers(&self) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); self.accounts];
        for &(a, b) in &self.follows {
            out[b as usize].push(a);
        }
        out
    }
}

/// splitmix64: small, seedable, good enough for picking accounts.
pub struct SplitMix(pub u64);
impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// What `seed` leaves for `run`: the accounts with their tokens, and who
/// follows whom (by index).
#[derive(Serialize, Deserialize)]
pub struct Seeded {
    pub accounts: Vec<SeededAccount>,
    pub follows: Vec<(u32, u32)>,
}

#[derive(Serialize, Deserialize, Clone)]
pub struct SeededAccount {
    pub id: String,
    pub username: String,
    pub token: String,
}

struct Api {
    http: reqwest::Client,
    bases: Vec<String>,
    next: AtomicUsize,
}

impl Api {
    fn new(bases: &[String], connections: usize) -> anyhow::Result<Api> {
        let http =
            reqwest::Client::builder().pool_max_idle_per_host(connections).timeout(Duration::from_secs(30)).build()?;
        let bases = bases.iter().map(|b| b.trim_end_matches('/').to_string()).collect();
        Ok(Api { http, bases, next: AtomicUsize::new(0) })
    }

    /// The next gateway, round-robin.
    fn url(&self, path: &str) -> String {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.bases.len();
        format!("{}{path}", self.bases[i])
    }

    async fn call(&self, rb: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        call(rb).await
    }
}

/// Sends a request; the JSON answer, or an error naming the status and body.
pub async fn call(rb: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let resp = rb.send().await?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    Ok(body)
}

/// Creates the graph's accounts, follows and `posts_each` posts per account
/// through the public API (rate limits must be off), and writes what `run`
/// needs to `out`.
pub async fn seed(
    bases: &[String],
    graph: &Graph,
    posts_each: usize,
    concurrency: usize,
    metrics: &[String],
    out: &Path,
) -> anyhow::Result<()> {
    let api = Api::new(bases, concurrency)?;
    let app = api
        .call(api.http.post(api.url("/api/v1/apps")).json(&json!({
            "client_name": "aviary-bench", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "read write follow"})))
        .await?;
    let app_token = api
        .call(api.http.post(api.url("/oauth/token")).json(&json!({
            "grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": app["client_secret"],
            "scope": "read write follow"})))
        .await?["access_token"]
        .as_str()
        .context("no app token")?
        .to_string();
    let run = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() % 0xfffff);

    let started = Instant::now();
    let accounts: Vec<anyhow::Result<SeededAccount>> = futures::stream::iter(0..graph.accounts)
        .map(|i| {
            let (api, app_token, run) = (&api, &app_token, &run);
            async move {
                let username = format!("b{run}_{i}");
                let user = api
                    .call(api.http.post(api.url("/api/v1/accounts")).bearer_auth(app_token).json(&json!({
                        "username": username, "email": format!("{username}@bench.example"),
                        "password": "bench password 1", "agreement": true})))
                    .await?;
                let token = user["access_token"].as_str().context("no access token")?.to_string();
                let me =
                    api.call(api.http.get(api.url("/api/v1/accounts/verify_credentials")).bearer_auth(&token)).await?;
                Ok(SeededAccount { id: me["id"].as_str().context("no id")?.to_string(), username, token })
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    // `buffer_unordered` finishes out of order; put them back by index.
    let mut accounts: Vec<SeededAccount> = accounts.into_iter().collect::<anyhow::Result<_>>()?;
    accounts.sort_by_key(|a| a.username.rsplit('_').next().and_then(|n| n.parse::<usize>().ok()));
    eprintln!("{} accounts in {:.1} s", accounts.len(), started.elapsed().as_secs_f64());

    let started = Instant::now();
    let results: Vec<anyhow::Result<Value>> = futures::stream::iter(graph.follows.iter())
        .map(|&(a, b)| {
            let (api, accounts) = (&api, &accounts);
            async move {
                let path = format!("/api/v1/accounts/{}/follow", accounts[b as usize].id);
                api.call(api.http.post(api.url(&path)).bearer_auth(&accounts[a as usize].token)).await
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!("{} follows in {:.1} s", graph.follows.len(), started.elapsed().as_secs_f64());

    let started = Instant::now();
    let total = graph.accounts * posts_each;
    let results: Vec<anyhow::Result<Value>> = futures::stream::iter(0..total)
        .map(|k| {
            let (api, accounts) = (&api, &accounts);
            async move {
                let author = &accounts[k % accounts.len()];
                let mention = &accounts[(k * 7 + 3) % accounts.len()].username;
                let text = post_text(mention, k);
                api.call(
                    api.http
                        .post(api.url("/api/v1/statuses"))
                        .bearer_auth(&author.token)
                        .json(&json!({"status": text})),
                )
                .await
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!("{total} posts in {:.1} s", started.elapsed().as_secs_f64());

    // Follows and posts are handled by `timelines` from events, after the
    // API answered; a run started before the backlog drains measures the
    // backlog. Wait for it, from the timelines processes' counters.
    let started = Instant::now();
    let want = [("follow.created", graph.follows.len()), ("post.created", total)];
    loop {
        let mut done = true;
        let mut seen = Vec::new();
        for (kind, n) in want {
            let handled = handled_events(&api.http, metrics, kind).await?;
            seen.push(format!("{kind} {handled}/{n}"));
            done &= handled >= n as f64;
        }
        if done {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("events not handled after 30 minutes: {}", seen.join(", "));
        }
        eprintln!("waiting for timelines to handle the events: {}", seen.join(", "));
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    eprintln!("events handled {:.1} s after the last post", started.elapsed().as_secs_f64());

    let seeded = Seeded { accounts, follows: graph.follows.clone() };
    std::fs::write(out, serde_json::to_vec(&seeded)?).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// Loads the graph and `posts_each` posts per account straight into the
/// `users` and `posts` stores of a fresh deployment, through the
/// components' bulk import (no API calls, no events: home timelines build
/// on first read). Posts go round by round over the accounts, so every
/// timeline interleaves its authors as it would in life.
pub async fn import(config: &store::DbConfig, graph: &Graph, posts_each: usize, out: &Path) -> anyhow::Result<()> {
    // Worker id 1023: distinct from the deployment's processes.
    let ids = Arc::new(model::IdGenerator::new(model::id::MAX_WORKER));
    let users = users::UsersService::open(config, ids.clone()).await?;
    let posts = posts::PostsService::open(config, ids).await?;
    let run = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() % 0xfffff);
    let usernames: Vec<String> = (0..graph.accounts).map(|i| format!("i{run}_{i}")).collect();
    let edges: Vec<(usize, usize)> = graph.follows.iter().map(|&(a, b)| (a as usize, b as usize)).collect();
    let started = Instant::now();
    let accounts = users.import(&usernames, "bench password 1", &edges).await?;
    eprintln!("{} accounts, {} follows in {:.1} s", accounts.len(), edges.len(), started.elapsed().as_secs_f64());
    let started = Instant::now();
    let rounds_per_batch = (100_000 / accounts.len().max(1)).max(1);
    let mut done = 0;
    for first in (0..posts_each).step_by(rounds_per_batch) {
        let batch: Vec<(model::Id, String)> = (first..(first + rounds_per_batch).min(posts_each))
            .flat_map(|r| {
                let accounts = &accounts;
                (0..accounts.len()).map(move |a| {
                    let k = r * accounts.len() + a;
                    (accounts[a].id, post_text(&accounts[(k * 7 + 3) % accounts.len()].username, k))
                })
            })
            .collect();
        posts.import(&batch).await?;
        done += batch.len();
        eprintln!("{done} posts, {:.1} s", started.elapsed().as_secs_f64());
    }
    let seeded = Seeded {
        accounts: accounts
            .into_iter()
            .map(|a| SeededAccount { id: a.id.to_string(), username: a.username, token: a.token })
            .collect(),
        follows: graph.follows.clone(),
    };
    std::fs::write(out, serde_json::to_vec(&seeded)?).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// Posts `posts` statuses as account `author` (every `interval`, or all at
/// once with `interval` zero) and reports what fan-out did with them: the
/// timeline entries written per second (from the timelines processes'
/// counters, first post sent → last handled), commit → fanned-out lag
/// (their histograms), and, with `watch` > 0, when the posts showed on
/// that many followers' home timelines.
pub async fn fanout(
    bases: &[String],
    metrics: &[String],
    seeded: &Seeded,
    author: usize,
    posts: usize,
    interval: Duration,
    watch_followers: usize,
) -> anyhow::Result<()> {
    let api = Arc::new(Api::new(bases, 64)?);
    let graph = Graph { accounts: seeded.accounts.len(), follows: seeded.follows.clone() };
    let fans = graph.followers().swap_remove(author);
    let me = seeded.accounts.get(author).context("no such account")?.clone();
    let inserts_before = counter(&api.http, metrics, "aviary_timelines_fanout_inserts_total").await?;
    let lag_before = crate::lag_buckets(&api.http, metrics).await?;
    let started = Instant::now();
    let mut watchers = Vec::new();
    for k in 0..posts {
        let text = post_text(&seeded.accounts[(k * 7 + 3) % seeded.accounts.len()].username, k);
        let s = api
            .call(api.http.post(api.url("/api/v1/statuses")).bearer_auth(&me.token).json(&json!({"status": text})))
            .await?;
        let (acked, id) = (Instant::now(), s["id"].as_str().context("no id")?.to_string());
        for w in 0..watch_followers.min(fans.len()) {
            let fan = seeded.accounts[fans[(k * 131 + w * 7919) % fans.len()] as usize].token.clone();
            let (api, id) = (api.clone(), id.clone());
            watchers.push(tokio::spawn(async move { watch(&api, &fan, &id, acked).await }));
        }
        if !interval.is_zero() {
            tokio::time::sleep(interval).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    let lag_after = loop {
        let now = crate::lag_buckets(&api.http, metrics).await?;
        if crate::handled(&now) - crate::handled(&lag_before) >= posts as f64 || Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let elapsed = started.elapsed().as_secs_f64();
    let inserts = counter(&api.http, metrics, "aviary_timelines_fanout_inserts_total").await? - inserts_before;
    let handled = crate::handled(&lag_after) - crate::handled(&lag_before);
    println!("author with {} followers: {posts} posts, {handled} handled in {elapsed:.2} s", fans.len());
    println!(
        "timeline inserts: {inserts} ({:.0} per post) → {:.0} inserts/s",
        inserts / posts as f64,
        inserts / elapsed
    );
    for q in [0.5, 0.99, 1.0] {
        println!(
            "commit → fanned out p{:<4} {:.1} ms",
            q * 100.0,
            crate::quantile(&lag_before, &lag_after, q) * 1000.0
        );
    }
    if watch_followers > 0 {
        let mut h = histogram();
        let mut unseen = 0;
        for w in watchers {
            match w.await? {
                Some(us) => h.saturating_record(us),
                None => unseen += 1,
            }
        }
        println!(
            "visible in followers' home timelines after the post was acknowledged: {} sightings, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, not seen within 10 s: {unseen}",
            h.len(),
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            h.max() as f64 / 1000.0
        );
    }
    println!(
        "RESULT inserts_per_s={:.0} inserts_per_post={:.0} lag_p99_ms={:.1}",
        inserts / elapsed,
        inserts / posts as f64,
        crate::quantile(&lag_before, &lag_after, 0.99) * 1000.0
    );
    Ok(())
}

/// A counter summed over every timelines process's `/metrics`.
async fn counter(http: &reqwest::Client, metrics: &[String], name: &str) -> anyhow::Result<f64> {
    let mut sum = 0.0;
    for base in metrics {
        let text = http
            .get(format!("{}/metrics", base.trim_end_matches('/')))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        let prefix = format!("{name} ");
        sum += text.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(Ok(0.0), |v| v.trim().parse::<f64>())?;
    }
    Ok(sum)
}

/// Reads every account's home timeline once, `concurrency` at a time, so
/// each is cached (built from the store) before a run measures reads.
pub async fn warm(bases: &[String], seeded: &Seeded, concurrency: usize) -> anyhow::Result<()> {
    let api = Api::new(bases, concurrency)?;
    let started = Instant::now();
    let results: Vec<anyhow::Result<Value>> = futures::stream::iter(seeded.accounts.iter())
        .map(|a| api.call(api.http.get(api.url("/api/v1/timelines/home?limit=20")).bearer_auth(&a.token)))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let errors = results.iter().filter(|r| r.is_err()).count();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "warmed {} home timelines in {secs:.1} s ({:.0}/s, first reads build from the store), {errors} errors",
        results.len(),
        results.len() as f64 / secs
    );
    if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
        bail!("warming failed: {e}");
    }
    Ok(())
}

/// Events of `kind` handled so far by every timelines process, from their
/// `/metrics` (the count of the event-lag histogram).
async fn handled_events(http: &reqwest::Client, metrics: &[String], kind: &str) -> anyhow::Result<f64> {
    let prefix = format!("aviary_timelines_event_lag_seconds_count{{kind=\"{kind}\"}} ");
    let mut sum = 0.0;
    for base in metrics {
        let url = format!("{}/metrics", base.trim_end_matches('/'));
        let text = http.get(&url).send().await?.error_for_status()?.text().await?;
        sum += text.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(Ok(0.0), |v| v.trim().parse::<f64>())?;
    }
    Ok(sum)
}

/// A post as DeathStarBench's mix writes them: some text, a mention, a link.
fn post_text(mention: &str, k: usize) -> String {
    format!("post {k} for @{mention}, details at https://example.org/notes/{k} — more to follow")
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Op {
    Home,
    Account,
    Post,
    Favourite,
    Boost,
}

impl Op {
    /// In the order `--mix` names them.
    const ALL: [Op; 5] = [Op::Home, Op::Account, Op::Post, Op::Favourite, Op::Boost];

    fn name(self) -> &'static str {
        match self {
            Op::Home => "home timeline",
            Op::Account => "account statuses",
            Op::Post => "new post",
            Op::Favourite => "favourite / unfavourite",
            Op::Boost => "boost / unboost",
        }
    }
}

/// Posts the favourites and boosts act on: the newest first pages of a
/// sample of accounts, then every post the run makes, the oldest dropping
/// out past `KEEP` (recent posts are what people react to).
struct RecentPosts {
    ids: std::sync::Mutex<std::collections::VecDeque<String>>,
}

impl RecentPosts {
    const KEEP: usize = 2000;

    fn add(&self, id: String) {
        let mut ids = self.ids.lock().expect("recent posts lock");
        ids.push_back(id);
        if ids.len() > Self::KEEP {
            ids.pop_front();
        }
    }

    fn pick(&self, salt: u64) -> Option<String> {
        let ids = self.ids.lock().expect("recent posts lock");
        (!ids.is_empty()).then(|| ids[(salt % ids.len() as u64) as usize].clone())
    }

    /// The first pages of statuses of up to 200 accounts.
    async fn sample(api: &Api, accounts: &[SeededAccount]) -> anyhow::Result<RecentPosts> {
        let recent = RecentPosts { ids: std::sync::Mutex::new(std::collections::VecDeque::new()) };
        let step = (accounts.len() / 200).max(1);
        for a in accounts.iter().step_by(step) {
            let path = format!("/api/v1/accounts/{}/statuses?limit=10&exclude_reblogs=true", a.id);
            if let Value::Array(page) = api.call(api.http.get(api.url(&path)).bearer_auth(&a.token)).await? {
                page.iter().filter_map(|s| s["id"].as_str()).for_each(|id| recent.add(id.to_string()));
            }
        }
        Ok(recent)
    }
}

pub struct RunOptions {
    pub rate: f64,
    pub duration: Duration,
    pub warmup: Duration,
    /// Percentages of home reads, account-status reads, posts, favourites
    /// and boosts.
    pub mix: [u32; 5],
    /// Requests allowed in flight; past it a due request is counted as
    /// dropped (the server is too far behind for this rate).
    pub max_in_flight: usize,
    /// Every n-th post is followed to `lag_followers` followers' homes.
    pub lag_every: usize,
    pub lag_followers: usize,
    pub seed: u64,
}

struct Sample {
    op: Op,
    micros: u64,
    ok: bool,
    measured: bool,
    /// Why it failed: the status, or how the exchange broke, and the first
    /// words of the answer.
    error: Option<(String, String)>,
}

/// A failed request's cause (`503`, `timeout`, `transport`) and message.
fn cause(e: &anyhow::Error) -> (String, String) {
    let text = format!("{e:#}");
    let class = match text.get(..3) {
        Some(code) if code.bytes().all(|b| b.is_ascii_digit()) => code.to_string(),
        _ if text.contains("timed out") => "timeout".to_string(),
        _ => "transport".to_string(),
    };
    (class, text.chars().take(160).collect())
}

/// Runs the mix against a seeded system and prints the report.
pub async fn run(bases: &[String], seeded: &Seeded, o: &RunOptions) -> anyhow::Result<()> {
    let api = Arc::new(Api::new(bases, o.max_in_flight.min(1024))?);
    let accounts = Arc::new(seeded.accounts.clone());
    let graph = Graph { accounts: accounts.len(), follows: seeded.follows.clone() };
    let followers = Arc::new(graph.followers());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Sample>();
    let (lag_tx, mut lag_rx) = tokio::sync::mpsc::unbounded_channel::<Option<u64>>();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut rng = SplitMix(o.seed);
    let total_pct: u32 = o.mix.iter().sum();
    anyhow::ensure!(total_pct > 0, "the mix must not be all zeros");
    let recent = Arc::new(if o.mix[3] + o.mix[4] > 0 {
        RecentPosts::sample(&api, &accounts).await?
    } else {
        RecentPosts { ids: std::sync::Mutex::new(std::collections::VecDeque::new()) }
    });

    let start = Instant::now() + Duration::from_millis(50);
    let end = start + o.warmup + o.duration;
    let measure_from = start + o.warmup;
    let interval = Duration::from_secs_f64(1.0 / o.rate);
    let mut issued: u64 = 0;
    let mut dropped = 0usize;
    let mut posts = 0usize;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        // Issue every request that has come due, each stamped with the
        // moment it was due.
        loop {
            let due = start + interval.mul_f64(issued as f64);
            if due > now || due >= end {
                break;
            }
            issued += 1;
            let mut pick = rng.below(total_pct as usize) as u32;
            let mut op = Op::Home;
            for (candidate, pct) in Op::ALL.into_iter().zip(o.mix) {
                if pick < pct {
                    op = candidate;
                    break;
                }
                pick -= pct;
            }
            let measured = due >= measure_from;
            if in_flight.load(Ordering::Relaxed) >= o.max_in_flight {
                if measured {
                    dropped += 1;
                }
                continue;
            }
            let reader = rng.below(accounts.len());
            let other = rng.below(accounts.len());
            let lag = op == Op::Post && {
                posts += 1;
                o.lag_every > 0 && posts.is_multiple_of(o.lag_every) && measured
            };
            let (api, accounts, followers, tx, lag_tx, in_flight, recent) = (
                api.clone(),
                accounts.clone(),
                followers.clone(),
                tx.clone(),
                lag_tx.clone(),
                in_flight.clone(),
                recent.clone(),
            );
            let (lag_followers, salt) = (o.lag_followers, rng.next());
            in_flight.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let result = request(&api, &accounts, &recent, op, reader, other, salt).await;
                let micros = due.elapsed().as_micros() as u64;
                in_flight.fetch_sub(1, Ordering::Relaxed);
                let error = result.as_ref().err().map(cause);
                let _ = tx.send(Sample { op, micros, ok: result.is_ok(), measured, error });
                if let (true, Ok(Some(post_id))) = (lag, result) {
                    let acked = Instant::now();
                    let fans = &followers[reader];
                    let mut watchers = Vec::new();
                    for k in 0..lag_followers.min(fans.len()) {
                        let fan = &accounts[fans[(salt as usize + k * 7919) % fans.len()] as usize];
                        watchers.push(watch(&api, &fan.token, &post_id, acked));
                    }
                    for seen in futures::future::join_all(watchers).await {
                        let _ = lag_tx.send(seen);
                    }
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(tx);
    drop(lag_tx);

    let mut hists: HashMap<Op, (Histogram<u64>, usize, usize)> = HashMap::new();
    let mut all = histogram();
    // Errors by cause: how many, and the first message of each.
    let mut causes: std::collections::BTreeMap<String, (usize, String)> = std::collections::BTreeMap::new();
    while let Some(s) = rx.recv().await {
        if !s.measured {
            continue;
        }
        if let Some((class, message)) = s.error {
            causes.entry(class).or_insert((0, message)).0 += 1;
        }
        let h = hists.entry(s.op).or_insert_with(|| (histogram(), 0, 0));
        if s.ok {
            h.0.saturating_record(s.micros);
            all.saturating_record(s.micros);
        } else {
            h.2 += 1;
        }
        h.1 += 1;
    }
    let mut lag = histogram();
    let mut unseen = 0;
    while let Some(l) = lag_rx.recv().await {
        match l {
            Some(us) => lag.saturating_record(us),
            None => unseen += 1,
        }
    }

    let secs = o.duration.as_secs_f64();
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "offered {:.0} req/s for {secs:.0} s (after {:.0} s warm-up), mix {}/{}/{}/{}/{} home/account/post/favourite/boost, {} gateway(s)",
        o.rate,
        o.warmup.as_secs_f64(),
        o.mix[0],
        o.mix[1],
        o.mix[2],
        o.mix[3],
        o.mix[4],
        bases.len()
    );
    println!();
    println!("| operation | requests | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut total = 0;
    let mut errors = 0;
    for op in Op::ALL {
        if let Some((h, n, e)) = hists.get(&op) {
            total += n;
            errors += e;
            println!(
                "| {} | {n} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {e} |",
                op.name(),
                *n as f64 / secs,
                ms(h, 0.5),
                ms(h, 0.9),
                ms(h, 0.99),
                ms(h, 0.999),
                h.max() as f64 / 1000.0
            );
        }
    }
    println!(
        "| **all** | {total} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {errors} |",
        total as f64 / secs,
        ms(&all, 0.5),
        ms(&all, 0.9),
        ms(&all, 0.99),
        ms(&all, 0.999),
        all.max() as f64 / 1000.0
    );
    println!();
    println!("dropped (more than {} in flight): {dropped}", o.max_in_flight);
    for (class, (n, first)) in &causes {
        println!("errors {class}: {n} (first: {first})");
    }
    if !lag.is_empty() || unseen > 0 {
        println!(
            "fan-out lag (post acknowledged → in a follower's home timeline), {} sightings: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; not seen within 10 s: {unseen}",
            lag.len(),
            ms(&lag, 0.5),
            ms(&lag, 0.99),
            lag.max() as f64 / 1000.0
        );
    }
    // One machine-readable line for scripts.
    println!(
        "RESULT rate={:.0} achieved={:.0} p50_ms={:.2} p99_ms={:.2} errors={errors} dropped={dropped} lag_p99_ms={:.1}",
        o.rate,
        total as f64 / secs,
        ms(&all, 0.5),
        ms(&all, 0.99),
        ms(&lag, 0.99)
    );
    Ok(())
}

/// Microseconds from 1 µs to 10 minutes at 3 significant digits; longer
/// values count as 10 minutes. (An auto-resizing histogram would clamp
/// `saturating_record` to its initial tiny range.)
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// One request of the mix; a post returns its id. A favourite or boost
/// acts on a recent post, and takes it back one time in three (so counts
/// move both ways and repeats, Mastodon's no-ops, come up as they would).
async fn request(
    api: &Api,
    accounts: &[SeededAccount],
    recent: &RecentPosts,
    op: Op,
    reader: usize,
    other: usize,
    salt: u64,
) -> anyhow::Result<Option<String>> {
    let me = &accounts[reader];
    match op {
        Op::Favourite | Op::Boost => {
            let post = recent.pick(salt).ok_or_else(|| anyhow::anyhow!("no post to act on yet"))?;
            let undo = (salt >> 32).is_multiple_of(3);
            let action = match (op, undo) {
                (Op::Favourite, false) => "favourite",
                (Op::Favourite, true) => "unfavourite",
                (_, false) => "reblog",
                (_, true) => "unreblog",
            };
            let path = format!("/api/v1/statuses/{post}/{action}");
            api.call(api.http.post(api.url(&path)).bearer_auth(&me.token)).await?;
            Ok(None)
        }
        Op::Home => {
            api.call(api.http.get(api.url("/api/v1/timelines/home?limit=20")).bearer_auth(&me.token)).await?;
            Ok(None)
        }
        Op::Account => {
            let path = format!("/api/v1/accounts/{}/statuses?limit=20", accounts[other].id);
            api.call(api.http.get(api.url(&path)).bearer_auth(&me.token)).await?;
            Ok(None)
        }
        Op::Post => {
            let text = post_text(&accounts[other].username, salt as usize % 1_000_000);
            let s = api
                .call(api.http.post(api.url("/api/v1/statuses")).bearer_auth(&me.token).json(&json!({"status": text})))
                .await?;
            let id = s["id"].as_str().map(str::to_string);
            if let Some(id) = &id {
                recent.add(id.clone());
            }
            Ok(id)
        }
    }
}

/// Polls `token`'s home timeline every 25 ms until `post` shows; the time
/// from `acked`, or `None` after 10 s. It asks for the entries just above
/// the post (`min_id`), not the first page: a follower of many busy
/// accounts gets newer posts faster than a poll comes round, and the post
/// would scroll off a first page unseen. (The polls are load on top of the
/// mix; keep the sample small.)
async fn watch(api: &Api, token: &str, post: &str, acked: Instant) -> Option<u64> {
    let deadline = acked + Duration::from_secs(10);
    let just_below = post.parse::<i64>().map(|id| id - 1).ok()?;
    let path = format!("/api/v1/timelines/home?limit=5&min_id={just_below}");
    while Instant::now() < deadline {
        let page = api.call(api.http.get(api.url(&path)).bearer_auth(token)).await;
        if let Ok(Value::Array(statuses)) = page
            && statuses.iter().any(|s| s["id"].as_str() == Some(post))
        {
            return Some(acked.elapsed().as_micros() as u64);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_lists_are_followed_both_ways() {
        let dir = std::env::temp_dir().join(format!("aviary-bench-graph-{}", std::process::id()));
        std::fs::write(&dir, "% comment\n0 1\n1 2\n2 2\n").unwrap();
        let g = Graph::from_edges(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(g.accounts, 3);
        assert_eq!(g.follows, vec![(0, 1), (1, 0), (1, 2), (2, 1)]);
        assert_eq!(g.followers()[1], vec![0, 2]);
    }

    #[test]
    fn power_law_graphs_have_their_celebrities() {
        let g = Graph::power_law(1000, 10, 2, 500, 7);
        let followers = g.followers();
        assert!(followers[0].len() >= 500 && followers[1].len() >= 500);
        // Most accounts have few followers; a few have many.
        let mut counts: Vec<usize> = followers.iter().map(Vec::len).collect();
        counts.sort_unstable();
        assert!(counts[500] < 20, "median {}", counts[500]);
        assert!(g.follows.iter().all(|(a, b)| a != b));
    }
}
