//! What one client may hold of a server: how many connections (per process
//! and per client address, refused at once beyond either), how long a
//! request head may take to arrive (the keep-alive idle wait included),
//! and how slowly a request body may trickle in. Applied on every listener
//! — hyper's connections here, the gateway's fast path through the same
//! [`Connections`] — so a slow or silent client holds a bounded share.

use http_body::{Body, Frame, SizeHint};
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The connection rules (see the module), from `[http]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// A request head must arrive whole within this once the server waits
    /// for one: from accepting the connection, or from the end of the
    /// previous answer (so it is also the keep-alive idle timeout).
    pub header_timeout_ms: u64,
    /// A request body must keep coming at this rate at least, measured
    /// over windows of `header_timeout_ms`: a large upload over a slow
    /// link passes, a trickle does not.
    pub min_body_bytes_per_sec: u64,
    /// Open connections per process; beyond it new ones are closed at once.
    pub max_connections: usize,
    /// Open connections per client address (IPv6 by /64); peers in
    /// `trusted_proxies` are exempt, a front proxy being many clients.
    pub max_connections_per_ip: usize,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            header_timeout_ms: 10_000,
            min_body_bytes_per_sec: 1_024,
            max_connections: 10_000,
            max_connections_per_ip: 256,
        }
    }
}

impl ConnectionSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.header_timeout_ms == 0 || self.max_connections == 0 || self.max_connections_per_ip == 0 {
            return Err(
                "http.header_timeout_ms, http.max_connections and http.max_connections_per_ip must be positive".into(),
            );
        }
        Ok(())
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }
}

/// The open connections of one process, counted against the rules.
pub struct Connections {
    pub settings: ConnectionSettings,
    exempt: Vec<IpAddr>,
    total: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    refused: crate::metrics::Counter,
}

/// An admitted connection's place in the counts; given back on drop.
pub struct Admitted {
    connections: Arc<Connections>,
    address: Option<IpAddr>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections.total.fetch_sub(1, Ordering::Relaxed);
        if let Some(a) = self.address {
            let mut counts = self.connections.per_address.lock().expect("connection counts poisoned");
            if let Some(n) = counts.get_mut(&a) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&a);
                }
            }
        }
    }
}

/// The unit a client address is counted in: IPv6 by /64, which one host
/// usually holds whole.
pub fn address_unit(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl Connections {
    pub fn new(settings: ConnectionSettings, exempt: Vec<IpAddr>) -> Arc<Connections> {
        Arc::new(Connections {
            settings,
            exempt,
            total: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
            refused: Default::default(),
        })
    }

    /// Counts connections refused by the caps in `registry`.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "connections_refused",
            "Connections closed on accept: the process or the client address held its maximum",
            self.refused.clone(),
        );
    }

    /// A place for a new connection from `peer`, or `None` when the process
    /// or the client's address is at its maximum.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Admitted> {
        if self.total.fetch_add(1, Ordering::Relaxed) >= self.settings.max_connections {
            self.total.fetch_sub(1, Ordering::Relaxed);
            self.refused.inc();
            return None;
        }
        let mut admitted = Admitted { connections: self.clone(), address: None };
        if !self.exempt.contains(&peer.to_canonical()) && !self.exempt.contains(&peer) {
            let unit = address_unit(peer);
            let mut counts = self.per_address.lock().expect("connection counts poisoned");
            let n = counts.entry(unit).or_insert(0);
            if *n >= self.settings.max_connections_per_ip {
                drop(counts);
                self.refused.inc();
                return None; // `admitted` gives the process count back.
            }
            *n += 1;
            admitted.address = Some(unit);
        }
        Some(admitted)
    }

    pub fn open(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

/// The client's address: the peer, or — when the peer is a trusted proxy
/// (the nginx/HAProxy front) — the nearest untrusted address in
/// `X-Forwarded-For`.
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: &[&[u8]], trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = forwarded_for
        .iter()
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    Some(forwarded.into_iter().rev().find(|ip| !trusted.contains(ip)).unwrap_or(peer))
}

/// `AsyncWrite` for a wrapper that changes only how its `inner` connection
/// is read: every write goes straight through.
macro_rules! write_through {
    ($wrapper:ident $(<$param:ident>)?) => {
        impl$(<$param: tokio::io::AsyncWrite + Unpin>)? tokio::io::AsyncWrite for $wrapper$(<$param>)? {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
            }
            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
            }
            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }
            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_flush(cx)
            }
            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
            }
        }
    };
}
pub(crate) use write_through;

/// A connection that must send its first byte within a deadline: hyper
/// reads the first bytes (to tell HTTP/2 from HTTP/1.1) with no timer of
/// its own, so a silent client would hold the connection forever.
pub struct FirstByteWithin<I> {
    inner: I,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<I> FirstByteWithin<I> {
    pub fn new(inner: I, within: Duration) -> Self {
        FirstByteWithin { inner, deadline: Some(Box::pin(tokio::time::sleep(within))) }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for FirstByteWithin<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.deadline.is_none() {
            return polled;
        }
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                self.deadline = None;
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match self.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => {
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no request within the header timeout")))
                }
                _ => Poll::Pending,
            },
            other => other,
        }
    }
}

write_through!(FirstByteWithin<I>);

/// The error a too-slow body ends with; the gateway answers it 408.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived slower than {0} bytes per second")]
pub struct BodyTooSlow(pub u64);

/// A request body that must keep up a minimum rate: in each window, at
/// least `rate × window` bytes, or the end.
pub struct MinRate<B> {
    inner: B,
    rate: u64,
    window: Duration,
    received: u64,
    timer: Pin<Box<Sleep>>,
}

impl<B> MinRate<B> {
    pub fn new(inner: B, rate: u64, window: Duration) -> Self {
        MinRate { inner, rate, window, received: 0, timer: Box::pin(tokio::time::sleep(window)) }
    }

    fn needed(&self) -> u64 {
        self.rate.saturating_mul(self.window.as_millis() as u64) / 1000
    }
}

impl<B> Body for MinRate<B>
where
    B: Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += bytes::Buf::remaining(data) as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                // Each window that ends checks what it brought.
                loop {
                    ready!(this.timer.as_mut().poll(cx));
                    if this.received < this.needed() {
                        return Poll::Ready(Some(Err(Box::new(BodyTooSlow(this.rate)))));
                    }
                    this.received = 0;
                    let next = Instant::now() + this.window;
                    this.timer.as_mut().reset(next);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conns(total: usize, per_ip: usize, exempt: &[&str]) -> Arc<Connections> {
        let s = ConnectionSettings { max_connections: total, max_connections_per_ip: per_ip, ..Default::default() };
        Connections::new(s, exempt.iter().map(|a| a.parse().unwrap()).collect())
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let front: IpAddr = "10.0.0.2".parse().unwrap();
        let h: &[&[u8]] = &[b"6.6.6.6, 203.0.113.9"];
        // Straight from a client: the header is ignored (anyone can send it).
        assert_eq!(client_ip(Some("198.51.100.1".parse().unwrap()), h, &[front]), "198.51.100.1".parse().ok());
        // Through the front: the address the front saw, not what the client claimed.
        assert_eq!(client_ip(Some(front), h, &[front]), "203.0.113.9".parse().ok());
        assert_eq!(client_ip(Some(front), &[], &[front]), Some(front));
    }

    #[test]
    fn caps_hold_per_address_and_per_process_and_free_on_drop() {
        let c = conns(5, 2, &["10.0.0.1"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let a1 = c.admit(ip("192.0.2.1")).unwrap();
        let _a2 = c.admit(ip("192.0.2.1")).unwrap();
        assert!(c.admit(ip("192.0.2.1")).is_none(), "third from one address");
        // One /64 is one client.
        let _b1 = c.admit(ip("2001:db8::1")).unwrap();
        let _b2 = c.admit(ip("2001:db8::2")).unwrap();
        assert!(c.admit(ip("2001:db8::ffff")).is_none());
        // The trusted front is exempt from the address cap, not the process's.
        let _f = c.admit(ip("10.0.0.1")).unwrap();
        assert!(c.admit(ip("10.0.0.1")).is_none(), "the process holds five");
        assert_eq!(c.open(), 5);
        drop(a1);
        assert!(c.admit(ip("192.0.2.1")).is_some(), "a closed connection frees its place");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_times_out_and_a_talking_one_does_not() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, server) = tokio::io::duplex(64);
        let mut silent = FirstByteWithin::new(server, Duration::from_secs(10));
        let mut buf = [0u8; 8];
        let err = silent.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(client);

        let (mut client, server) = tokio::io::duplex(64);
        let mut talking = FirstByteWithin::new(server, Duration::from_secs(10));
        client.write_all(b"G").await.unwrap();
        assert_eq!(talking.read(&mut buf).await.unwrap(), 1);
        tokio::time::sleep(Duration::from_secs(60)).await;
        client.write_all(b"ET").await.unwrap();
        assert_eq!(talking.read(&mut buf).await.unwrap(), 2, "the deadline is for the first byte only");
    }

    /// A body of `chunks` pieces of `size` bytes, `gap` apart.
    fn paced(chunks: usize, size: usize, gap: Duration) -> impl Body<Data = bytes::Bytes, Error = io::Error> + Unpin {
        let frames = futures::stream::unfold(0, move |i| async move {
            if i == chunks {
                return None;
            }
            if i > 0 {
                tokio::time::sleep(gap).await;
            }
            Some((Ok::<_, io::Error>(Frame::data(bytes::Bytes::from(vec![b'x'; size]))), i + 1))
        });
        http_body_util::StreamBody::new(Box::pin(frames))
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickling_body_fails_and_a_steady_one_passes() {
        use http_body_util::BodyExt;
        let err = MinRate::new(paced(5, 1, Duration::from_secs(3)), 100, Duration::from_secs(10))
            .collect()
            .await
            .unwrap_err();
        assert!(err.downcast_ref::<BodyTooSlow>().is_some(), "{err}");
        // 60 s of 200 bytes per second: slow, but above the minimum.
        let all = MinRate::new(paced(60, 200, Duration::from_secs(1)), 100, Duration::from_secs(10))
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(all.len(), 12_000);
    }
}
