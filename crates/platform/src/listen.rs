//! Accepting connections, for the server and for a fast path that serves
//! some of them itself (the gateway's pass-through front, `proxy::front`):
//! the one accept loop both use, the hand-over of a connection from a fast
//! path to hyper with what was already read, and the trait a fast path
//! implements. Kept apart from `server` so that a fast path needs only
//! this, and `server` needs no fast path's code.

use bytes::{Buf, Bytes};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Plain-HTTP connections served before hyper: the fast path accepts from
/// the listener itself, and hands back the connections it does not serve.
pub trait FastPath: Send + Sync + 'static {
    /// Starts accepting from `listener` until `stop`, each connection
    /// admitted by `connections` and held to its deadlines; connections
    /// count in `tracker`, so shutdown can wait for requests in flight.
    fn spawn(
        self: Arc<Self>,
        listener: TcpListener,
        connections: Arc<crate::conn::Connections>,
        stop: CancellationToken,
        tracker: tokio_util::task::TaskTracker,
    ) -> io::Result<tokio::sync::mpsc::UnboundedReceiver<HandedOver>>;
}

/// A connection the fast path hands over for hyper to serve: what was read
/// of its next request, the socket (out of the worker's reactor), the peer
/// and its place among the process's connections.
pub type HandedOver = (Bytes, std::net::TcpStream, SocketAddr, crate::conn::Admitted);

/// The next connection, `None` once `stop` is cancelled. A failed accept
/// (out of file descriptors and the like) backs off and keeps serving.
/// Small responses must leave at once: without `TCP_NODELAY`, Nagle's
/// algorithm holds a response's tail until the previous segment is
/// acknowledged (see `serve`), so every accepted connection gets it.
pub async fn accept(
    listener: &TcpListener,
    stop: &CancellationToken,
) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    return Some((tcp, peer));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// A connection whose first bytes were already read: reads give those
/// first. What the fast path hands to hyper.
pub struct Rewind {
    read_ahead: Bytes,
    inner: TcpStream,
}

impl Rewind {
    /// What was read ahead, and the connection.
    pub fn into_parts(self) -> (Bytes, TcpStream) {
        (self.read_ahead, self.inner)
    }

    pub fn new(read_ahead: Bytes, inner: TcpStream) -> Rewind {
        Rewind { read_ahead, inner }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.read_ahead.is_empty() {
            let n = self.read_ahead.len().min(buf.remaining());
            buf.put_slice(&self.read_ahead[..n]);
            self.read_ahead.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

crate::conn::write_through!(Rewind);
