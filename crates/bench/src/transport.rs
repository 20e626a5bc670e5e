//! HTTP/JSON versus gRPC for the same internal call; see the crate docs.

use model::Id;
use rpc::RpcClient;
use std::sync::Arc;
use std::time::{Duration, Instant};
use users::AccountRecord;

pub mod pb {
    tonic::include_proto!("aviary.bench");
}

fn accounts_for(ids: &[i64]) -> Vec<AccountRecord> {
    ids.iter()
        .map(|&id| AccountRecord {
            id: Id::from_i64(id),
            username: format!("user{id}"),
            display_name: format!("User number {id}"),
            note: "A short biography, as most accounts have.".into(),
            locked: false,
            bot: false,
            followers_count: 123,
            following_count: 45,
            created_at_ms: 1_764_000_000_000,
        })
        .collect()
}

struct GrpcUsers;

#[tonic::async_trait]
impl pb::users_server::Users for GrpcUsers {
    async fn accounts(
        &self,
        req: tonic::Request<pb::AccountsRequest>,
    ) -> Result<tonic::Response<pb::AccountsReply>, tonic::Status> {
        let accounts = accounts_for(&req.into_inner().ids)
            .into_iter()
            .map(|a| pb::Account {
                id: a.id.get(),
                username: a.username,
                display_name: a.display_name,
                note: a.note,
                locked: a.locked,
                bot: a.bot,
                followers_count: a.followers_count,
                following_count: a.following_count,
                created_at_ms: a.created_at_ms,
            })
            .collect();
        Ok(tonic::Response::new(pb::AccountsReply { accounts }))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BenchError(String);

impl rpc::ComponentError for BenchError {
    fn kind(&self) -> rpc::ErrorKind {
        rpc::ErrorKind::Unexpected
    }
    fn from_wire(_: rpc::ErrorKind, detail: String) -> Self {
        BenchError(detail)
    }
}

/// The measured call, declared as every component API is: the client and
/// the dispatcher below are the product's generated ones, on the wire
/// exactly as `users.accounts`.
#[rpc::component_api(component = "users", remote = RemoteBenchUsers)]
pub trait BenchUsersApi: Send + Sync + 'static {
    #[read]
    async fn accounts(&self, ids: &[Id]) -> Result<Vec<AccountRecord>, BenchError>;
}

struct HttpUsers;

#[async_trait::async_trait]
impl BenchUsersApi for HttpUsers {
    async fn accounts(&self, ids: &[Id]) -> Result<Vec<AccountRecord>, BenchError> {
        Ok(accounts_for(&ids.iter().map(|i| i.get()).collect::<Vec<_>>()))
    }
}

fn http_router() -> axum::Router {
    let api: Arc<dyn BenchUsersApi> = Arc::new(HttpUsers);
    rpc::router(api)
}

struct Stats {
    name: &'static str,
    calls: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn print(&mut self) {
        self.latencies.sort();
        let q = |p: f64| self.latencies[((self.latencies.len() as f64 * p) as usize).min(self.latencies.len() - 1)];
        println!(
            "{:<10} {:>8.0} calls/s   p50 {:>6.0} µs   p99 {:>6.0} µs",
            self.name,
            self.calls as f64 / self.elapsed.as_secs_f64(),
            q(0.5).as_secs_f64() * 1e6,
            q(0.99).as_secs_f64() * 1e6
        );
    }
}

async fn drive<F, Fut>(name: &'static str, calls: usize, concurrency: usize, call: F) -> Stats
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = usize> + Send,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..concurrency {
        let call = call.clone();
        let n = calls / concurrency + usize::from(t < calls % concurrency);
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(n);
            for _ in 0..n {
                let s = Instant::now();
                let got = call().await;
                assert!(got > 0, "an empty answer");
                lat.push(s.elapsed());
            }
            lat
        });
    }
    let mut latencies = Vec::with_capacity(calls);
    while let Some(l) = tasks.join_next().await {
        latencies.extend(l.expect("a bench task"));
    }
    Stats { name, calls, elapsed: start.elapsed(), latencies }
}

pub async fn run(calls: usize, concurrency: usize, accounts: usize) -> anyhow::Result<()> {
    let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http_addr = http_listener.local_addr()?;
    tokio::spawn(async move { axum::serve(http_listener, http_router()).await });
    let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let grpc_addr = grpc_listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(pb::users_server::UsersServer::new(GrpcUsers))
            .serve_with_incoming(tokio_stream_from(grpc_listener)),
    );
    let ids: Vec<Id> = (1..=accounts as i64).map(|i| Id::from_i64(384_000_000_000_000_000 + i)).collect();

    let http: Arc<dyn BenchUsersApi> = rpc::Api::remote(
        RpcClient::new("users", &[http_addr.to_string()], Default::default()).map_err(anyhow::Error::msg)?,
    );
    let grpc = pb::users_client::UsersClient::connect(format!("http://{grpc_addr}")).await?;
    println!("{calls} calls of users.accounts({accounts} ids), {concurrency} in flight, per round:");
    for round in 1..=2 {
        println!("round {round}");
        let (h, ids_h) = (http.clone(), ids.clone());
        drive("http/json", calls, concurrency, move || {
            let (h, ids) = (h.clone(), ids_h.clone());
            async move { h.accounts(&ids).await.expect("HTTP call").len() }
        })
        .await
        .print();
        let (g, ids_g): (_, Vec<i64>) = (grpc.clone(), ids.iter().map(|i| i.get()).collect());
        drive("grpc", calls, concurrency, move || {
            let (mut g, ids) = (g.clone(), ids_g.clone());
            async move { g.accounts(pb::AccountsRequest { ids }).await.expect("gRPC call").into_inner().accounts.len() }
        })
        .await
        .print();
    }
    Ok(())
}

/// A `TcpListener` as the stream of connections tonic serves from, with
/// Nagle's algorithm off as tonic's own listener would have it (without
/// it, small HTTP/2 frames wait ~40 ms for delayed ACKs).
fn tokio_stream_from(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |l| async move {
        let conn = l.accept().await.and_then(|(s, _)| s.set_nodelay(true).map(|_| s));
        Some((conn, l))
    })
}
