//! The floor for any Rust reverse proxy built on hyper: a bare hyper server
//! forwarding every request through hyper-util's pooled client, with no
//! routing, middleware, limits or health checks. `scripts/bench-gateway`
//! measures it beside nginx and the gateway, so the gateway's distance from
//! nginx splits into what hyper itself costs and what the gateway adds.

use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// `threads` > 0: that many OS threads, each with its own current-thread
/// runtime, listener (SO_REUSEPORT) and client pool — no work stealing.
pub fn run_per_core(listen: &str, upstream: &str, threads: usize) -> anyhow::Result<()> {
    let addr: std::net::SocketAddr = listen.parse()?;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let upstream = upstream.to_string();
            std::thread::spawn(move || -> anyhow::Result<()> {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                rt.block_on(async move {
                    let socket = tokio::net::TcpSocket::new_v4()?;
                    socket.set_reuseport(true)?;
                    socket.set_reuseaddr(true)?;
                    socket.bind(addr)?;
                    serve(socket.listen(1024)?, &upstream).await
                })
            })
        })
        .collect();
    for h in handles {
        h.join().expect("proxy thread")?;
    }
    Ok(())
}

pub async fn run(listen: &str, upstream: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    serve(listener, upstream).await
}

async fn serve(listener: tokio::net::TcpListener, upstream: &str) -> anyhow::Result<()> {
    let listen = listener.local_addr()?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new()).build(connector);
    eprintln!("hyper proxy on {listen} → {upstream}");
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let (client, upstream) = (client.clone(), upstream.to_string());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let (client, upstream) = (client.clone(), upstream.clone());
                async move {
                    let (mut parts, body) = req.into_parts();
                    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                    parts.uri = format!("http://{upstream}{path}").parse().expect("a valid URI");
                    let resp = client.request(hyper::Request::from_parts(parts, body)).await;
                    resp.map(|r| r.map(BoxBody::new))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
