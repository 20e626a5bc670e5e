//! `aviary-bench`: measurements against a running Aviary (all-in-one or
//! split), through its public API like any client.
//!
//! `transport` — the internal-call transport choice: the same call
//! (`users.accounts` for a page of 20 accounts, the hottest internal call)
//! over the product's HTTP/JSON client and over gRPC (tonic), both servers
//! in this process on loopback, answering from memory so only transport and
//! encoding are measured.
//!
//! `outbox` — posts through the public API and measures how long events
//! take from the commit that wrote them (the outbox row) to the end of
//! their handling by `timelines` (fan-out done), from the
//! `aviary_timelines_event_lag_seconds` histograms the timelines processes
//! export, and how many posts per second flow through outbox, bus and
//! fan-out when posting without pause.
//!
//! `seed` and `run` — the workload generator (see [`load`]): a social
//! graph (an edge list such as socfb-Reed98, or a synthetic power-law graph
//! with celebrities) seeded through the public API, then an open-loop mix
//! of home-timeline reads, account-status reads and posts at a constant
//! arrival rate, with latency percentiles corrected for coordinated
//! omission and the fan-out lag seen by followers.
//!
//! `hyper-proxy` — a bare hyper reverse proxy, the floor for the gateway in
//! `scripts/bench-gateway` (same allocator as the product); `byte-proxy` —
//! the floor for any proxy on tokio (httparse and byte copies only).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "aviary-bench", about = "Measure a running Aviary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A bare hyper reverse proxy (no routing or middleware): the floor the
    /// gateway is measured against in `scripts/bench-gateway`.
    HyperProxy {
        #[arg(long, default_value = "127.0.0.1:18084")]
        listen: String,
        #[arg(long, default_value = "127.0.0.1:18081")]
        upstream: String,
        /// Run this many single-threaded runtimes on SO_REUSEPORT listeners
        /// instead of one work-stealing runtime (0).
        #[arg(long, default_value_t = 0)]
        per_core: usize,
    },
    /// A byte-level reverse proxy (httparse, nothing else): the floor for
    /// any proxy on tokio, measured in `scripts/bench-gateway`.
    ByteProxy {
        #[arg(long, default_value = "127.0.0.1:18085")]
        listen: String,
        #[arg(long, default_value = "127.0.0.1:18081")]
        upstream: String,
    },
    /// Create a graph's accounts, follows and posts through the public API
    /// (run the server with rate limits off), writing accounts and tokens
    /// to `--out` for `run`.
    Seed {
        /// Gateway base URLs, comma-separated (requests go round-robin).
        #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
        api: Vec<String>,
        /// An edge list (`a b` per line, followed both ways), e.g.
        /// ../shared/datasets/socfb-Reed98/socfb-Reed98.edges.
        #[arg(long, conflicts_with = "synthetic")]
        graph: Option<std::path::PathBuf>,
        /// A power-law graph instead: `accounts,follows_each,celebrities,celebrity_followers`.
        #[arg(long, value_delimiter = ',')]
        synthetic: Option<Vec<usize>>,
        #[arg(long, default_value_t = 10)]
        posts_each: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value = "seeded.json")]
        out: std::path::PathBuf,
        /// Base URLs whose `/metrics` count the events `timelines` handled
        /// (every timelines process in split mode); default: `--api`.
        #[arg(long, value_delimiter = ',')]
        timelines_metrics: Vec<String>,
    },
    /// Load a graph and its posts straight into a fresh deployment's stores
    /// through the components' bulk import (no API, no events), writing
    /// accounts and tokens to `--out` for `run`. For sizes the API would
    /// take hours to seed (1M posts).
    Import {
        /// The deployment's PostgreSQL database (`database.url`).
        #[arg(long, conflicts_with = "data_dir")]
        database_url: Option<String>,
        /// Or the data directory of a stopped all-in-one server on SQLite.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        #[arg(long, conflicts_with = "synthetic")]
        graph: Option<std::path::PathBuf>,
        /// `accounts,follows_each,celebrities,celebrity_followers`.
        #[arg(long, value_delimiter = ',')]
        synthetic: Option<Vec<usize>>,
        #[arg(long, default_value_t = 100)]
        posts_each: usize,
        #[arg(long, default_value = "seeded.json")]
        out: std::path::PathBuf,
    },
    /// Post as one seeded account and measure fan-out: inserts/s, commit →
    /// fanned-out lag, and (with --watch) visibility on followers' pages.
    Fanout {
        #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
        api: Vec<String>,
        /// `/metrics` of every timelines process; default: `--api`.
        #[arg(long, value_delimiter = ',')]
        timelines_metrics: Vec<String>,
        #[arg(long, default_value = "seeded.json")]
        accounts: std::path::PathBuf,
        /// The posting account's index in the seeded graph (synthetic
        /// graphs put their celebrities first).
        #[arg(long, default_value_t = 0)]
        author: usize,
        #[arg(long, default_value_t = 20)]
        posts: usize,
        /// Milliseconds between posts (0: a burst).
        #[arg(long, default_value_t = 500)]
        interval_ms: u64,
        /// Followers per post whose first home page is polled for it.
        #[arg(long, default_value_t = 0)]
        watch: usize,
    },
    /// Read every seeded account's home timeline once (builds the caches).
    Warm {
        #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
        api: Vec<String>,
        #[arg(long, default_value = "seeded.json")]
        accounts: std::path::PathBuf,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Run the mix at a constant arrival rate against a seeded system.
    Run {
        #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
        api: Vec<String>,
        /// What `seed` wrote.
        #[arg(long, default_value = "seeded.json")]
        accounts: std::path::PathBuf,
        /// Requests per second offered, whatever the answers take.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Seconds measured, after the warm-up.
        #[arg(long, default_value_t = 30)]
        duration: u64,
        #[arg(long, default_value_t = 5)]
        warmup: u64,
        /// Percent home reads, account-status reads, posts, favourites and
        /// boosts (three values: DeathStarBench's 60,30,10 has no
        /// favourites or boosts).
        #[arg(long, value_delimiter = ',', default_value = "50,20,10,15,5")]
        mix: Vec<u32>,
        #[arg(long, default_value_t = 4000)]
        max_in_flight: usize,
        /// Follow every n-th post into followers' home timelines (0: none).
        #[arg(long, default_value_t = 20)]
        lag_every: usize,
        #[arg(long, default_value_t = 2)]
        lag_followers: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// HTTP/JSON (the rpc crate) versus gRPC (tonic) for one internal call.
    Transport {
        /// Calls per transport and round.
        #[arg(long, default_value_t = 20_000)]
        calls: usize,
        /// Calls in flight.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Accounts per call.
        #[arg(long, default_value_t = 20)]
        accounts: usize,
    },
    /// Outbox → bus → fan-out: lag percentiles for a burst, and sustained posts/s.
    Outbox {
        /// Public API base URL (a gateway).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        api: String,
        /// `/metrics` of every timelines process (comma-separated base URLs).
        #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8381,http://127.0.0.1:8382")]
        timelines: Vec<String>,
        /// Posts in the burst.
        #[arg(long, default_value_t = 1000)]
        posts: usize,
        /// Requests in flight while posting.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Followers of the posting account (fan-out width).
        #[arg(long, default_value_t = 10)]
        followers: usize,
    },
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn json(&self, rb: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        load::call(rb).await
    }

    async fn account(&self, name: &str) -> anyhow::Result<(String, String)> {
        let app = self
            .json(self.http.post(format!("{}/api/v1/apps", self.base)).json(&json!({
                "client_name": "aviary-bench", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "read write follow"})))
            .await?;
        let token = self
            .json(self.http.post(format!("{}/oauth/token", self.base)).json(&json!({
                "grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": app["client_secret"],
                "scope": "read write follow"})))
            .await?;
        let user = self
            .json(self.http.post(format!("{}/api/v1/accounts", self.base)).bearer_auth(token["access_token"].as_str().unwrap_or("")).json(
                &json!({"username": name, "email": format!("{name}@bench.example"), "password": "bench password 1", "agreement": true}),
            ))
            .await?;
        let token = user["access_token"].as_str().context("no access token")?.to_string();
        let me = self
            .json(self.http.get(format!("{}/api/v1/accounts/verify_credentials", self.base)).bearer_auth(&token))
            .await?;
        Ok((me["id"].as_str().context("no id")?.to_string(), token))
    }
}

/// Cumulative bucket counts (upper bound, count) of one histogram series,
/// summed over every timelines process.
async fn lag_buckets(http: &reqwest::Client, targets: &[String]) -> anyhow::Result<Vec<(f64, f64)>> {
    let mut sum: Vec<(f64, f64)> = Vec::new();
    for t in targets {
        let text = http.get(format!("{t}/metrics")).send().await?.text().await?;
        let mut buckets = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("aviary_timelines_event_lag_seconds_bucket{") else { continue };
            if !rest.contains(r#"kind="post.created""#) {
                continue;
            }
            let le = rest.split("le=\"").nth(1).and_then(|s| s.split('"').next()).context("bucket without le")?;
            let le: f64 = if le == "+Inf" { f64::INFINITY } else { le.parse()? };
            let count: f64 = line.rsplit(' ').next().context("bucket without value")?.parse()?;
            buckets.push((le, count));
        }
        if sum.is_empty() {
            sum = buckets;
        } else {
            for (s, b) in sum.iter_mut().zip(buckets) {
                s.1 += b.1;
            }
        }
    }
    Ok(sum)
}

/// The q-quantile of the observations between two scrapes, interpolated
/// linearly inside its bucket (so accurate to the bucket width, 1.5×).
fn quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> f64 {
    let delta: Vec<(f64, f64)> =
        after.iter().enumerate().map(|(i, (le, c))| (*le, c - before.get(i).map_or(0.0, |b| b.1))).collect();
    let total = delta.last().map_or(0.0, |d| d.1);
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for (le, c) in delta {
        if c >= rank {
            if le.is_infinite() {
                return prev.0;
            }
            let within = if c > prev.1 { (rank - prev.1) / (c - prev.1) } else { 1.0 };
            return prev.0 + (le - prev.0) * within;
        }
        prev = (le, c);
    }
    prev.0
}

fn handled(buckets: &[(f64, f64)]) -> f64 {
    buckets.last().map_or(0.0, |b| b.1)
}

async fn outbox(
    api: String,
    timelines: Vec<String>,
    posts: usize,
    concurrency: usize,
    followers: usize,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let c = Client { http: http.clone(), base: api.trim_end_matches('/').to_string() };
    let run = std::process::id();
    let (author_id, author) = c.account(&format!("bench{run}a")).await?;
    for i in 0..followers {
        let (_, token) = c.account(&format!("bench{run}f{i}")).await?;
        c.json(c.http.post(format!("{}/api/v1/accounts/{author_id}/follow", c.base)).bearer_auth(&token)).await?;
        // Materialise the timeline so fan-out writes to it.
        c.json(c.http.get(format!("{}/api/v1/timelines/home", c.base)).bearer_auth(&token)).await?;
    }
    let before = lag_buckets(&http, &timelines).await?;
    let start = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..posts)
        .map(|i| {
            let (c, author) = (&c, &author);
            async move {
                c.json(
                    c.http
                        .post(format!("{}/api/v1/statuses", c.base))
                        .bearer_auth(author)
                        .json(&json!({"status": format!("bench post {i}")})),
                )
                .await
                .map(|_| ())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let posted = start.elapsed();
    let errors = results.iter().filter(|r| r.is_err()).count();
    let ok = (posts - errors) as f64;
    // Every acknowledged post is handled exactly once by timelines (more
    // only if an event is redelivered, which this run would report).
    let deadline = Instant::now() + Duration::from_secs(120);
    let after = loop {
        let now = lag_buckets(&http, &timelines).await?;
        if handled(&now) - handled(&before) >= ok || Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let drained = start.elapsed();
    let done = handled(&after) - handled(&before);
    println!(
        "posts acknowledged      {ok} ({errors} errors) in {:.2} s → {:.0} posts/s accepted",
        posted.as_secs_f64(),
        ok / posted.as_secs_f64()
    );
    println!(
        "events handled          {done} in {:.2} s → {:.0} posts/s through outbox, bus and fan-out ({} followers each)",
        drained.as_secs_f64(),
        done / drained.as_secs_f64(),
        followers
    );
    for q in [0.5, 0.9, 0.99] {
        println!("commit → fanned out     p{:<4} {:.1} ms", q * 100.0, quantile(&before, &after, q) * 1000.0);
    }
    if done < ok {
        bail!("only {done} of {ok} posts were handled within 120 s");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::HyperProxy { listen, upstream, per_core } = &cli.command
        && *per_core > 0
    {
        return hyper_proxy::run_per_core(listen, upstream, *per_core);
    }
    tokio::runtime::Runtime::new()?.block_on(run(cli.command))
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::HyperProxy { listen, upstream, .. } => hyper_proxy::run(&listen, &upstream).await,
        Command::ByteProxy { listen, upstream } => byte_proxy::run(&listen, &upstream).await,
        Command::Transport { calls, concurrency, accounts } => transport::run(calls, concurrency, accounts).await,
        Command::Outbox { api, timelines, posts, concurrency, followers } => {
            outbox(api, timelines, posts, concurrency, followers).await
        }
        Command::Seed { api, graph, synthetic, posts_each, concurrency, out, timelines_metrics } => {
            let graph = load_graph(graph, synthetic)?;
            let metrics = if timelines_metrics.is_empty() { api.clone() } else { timelines_metrics };
            load::seed(&api, &graph, posts_each, concurrency, &metrics, &out).await
        }
        Command::Import { database_url, data_dir, graph, synthetic, posts_each, out } => {
            let graph = load_graph(graph, synthetic)?;
            let config = match (database_url, data_dir) {
                (Some(url), _) => store::DbConfig::Postgres { url, read_url: None, max_connections: 4 },
                (None, Some(dir)) => store::DbConfig::Sqlite { dir },
                (None, None) => bail!("give --database-url URL or --data-dir DIR"),
            };
            load::import(&config, &graph, posts_each, &out).await
        }
        Command::Fanout { api, timelines_metrics, accounts, author, posts, interval_ms, watch } => {
            let metrics = if timelines_metrics.is_empty() { api.clone() } else { timelines_metrics };
            let seeded = read_seeded(&accounts)?;
            load::fanout(&api, &metrics, &seeded, author, posts, Duration::from_millis(interval_ms), watch).await
        }
        Command::Warm { api, accounts, concurrency } => load::warm(&api, &read_seeded(&accounts)?, concurrency).await,
        Command::Run { api, accounts, rate, duration, warmup, mix, max_in_flight, lag_every, lag_followers, seed } => {
            let seeded = read_seeded(&accounts)?;
            let mix: [u32; 5] = match mix[..] {
                [home, account, post] => [home, account, post, 0, 0],
                [home, account, post, favourite, boost] => [home, account, post, favourite, boost],
                _ => bail!(
                    "--mix takes five percentages, home,account,post,favourite,boost (e.g. 50,20,10,15,5), or the first three"
                ),
            };
            let options = load::RunOptions {
                rate,
                duration: Duration::from_secs(duration),
                warmup: Duration::from_secs(warmup),
                mix,
                max_in_flight,
                lag_every,
                lag_followers,
                seed,
            };
            load::run(&api, &seeded, &options).await
        }
    }
}

fn read_seeded(path: &std::path::Path) -> anyhow::Result<load::Seeded> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("{} is not what seed or import wrote", path.display()))
}

fn load_graph(path: Option<std::path::PathBuf>, synthetic: Option<Vec<usize>>) -> anyhow::Result<load::Graph> {
    let graph = match (path, synthetic) {
        (Some(path), _) => load::Graph::from_edges(&path)?,
        (None, Some(s)) if s.len() == 4 => load::Graph::power_law(s[0], s[1], s[2], s[3], 1),
        _ => bail!("give --graph FILE or --synthetic accounts,follows_each,celebrities,celebrity_followers"),
    };
    eprintln!("graph: {} accounts, {} follows", graph.accounts, graph.follows.len());
    Ok(graph)
}

mod byte_proxy;
mod hyper_proxy;
mod load;
mod transport;

#[cfg(test)]
mod tests {
    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let before = vec![(0.01, 0.0), (0.1, 0.0), (f64::INFINITY, 0.0)];
        let after = vec![(0.01, 50.0), (0.1, 100.0), (f64::INFINITY, 100.0)];
        assert!((super::quantile(&before, &after, 0.5) - 0.01).abs() < 1e-9);
        assert!((super::quantile(&before, &after, 0.75) - 0.055).abs() < 1e-9);
    }
}
