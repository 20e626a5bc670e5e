//! A TCP proxy a test puts between Aviary and an engine, to cut its
//! connections or refuse new ones for a while — the network failures
//! a restart or a partition causes, without disturbing the shared engine
//! other tests are using.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

#[derive(Clone)]
pub struct TcpProxy {
    pub addr: SocketAddr,
    blocked: Arc<AtomicBool>,
    connections: Arc<Mutex<JoinSet<()>>>,
    accept: Arc<tokio::task::JoinHandle<()>>,
}

impl TcpProxy {
    /// Listens on a free local port and forwards to `upstream`.
    pub async fn start(upstream: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a proxy port");
        let addr = listener.local_addr().unwrap();
        let blocked = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let upstream = upstream.to_string();
        let (b, c) = (blocked.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if b.load(Ordering::SeqCst) {
                    drop(inbound); // refused: closed at once
                    continue;
                }
                let upstream = upstream.clone();
                c.lock().await.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        TcpProxy { addr, blocked, connections, accept: Arc::new(accept) }
    }

    /// Drops every open connection (as a restarted server would).
    pub async fn cut(&self) {
        self.connections.lock().await.abort_all();
    }

    /// Cuts every connection and refuses new ones until [`Self::restore`].
    pub async fn block(&self) {
        self.blocked.store(true, Ordering::SeqCst);
        self.cut().await;
    }

    pub fn restore(&self) {
        self.blocked.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if Arc::strong_count(&self.accept) == 1 {
            self.accept.abort();
        }
    }
}
