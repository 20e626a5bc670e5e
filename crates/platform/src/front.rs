//! A fast path in front of hyper for the plain-HTTP/1.1 requests a process
//! names (the gateway's pass-through prefixes), served by one loop per
//! connection that reads the request, calls the process, and writes the
//! answer — as nginx's event loop does, without hyper's dispatcher and the
//! service stack between. Measured on this machine, that difference is what
//! separates a hyper-based proxy from nginx (docs/BENCHMARKS.md).
//!
//! Only what is simple is served here: HTTP/1.0 and 1.1 requests in origin
//! form, a body of at most the body limit framed by `Content-Length`, no
//! `Transfer-Encoding`, `Upgrade` or `Expect`. Everything else — another
//! path, HTTP/2 with prior knowledge, WebSocket upgrades, chunked uploads,
//! a malformed or oversized head — is handed to hyper at that request's
//! start, with the bytes already read, and hyper serves the rest of the
//! connection through the full service stack, so nothing is answered
//! differently, only faster. Request heads are parsed by `httparse`,
//! hyper's own parser.
//!
//! Keep-alive as HTTP/1.1 has it (pipelined requests are answered in
//! order); an idle connection is closed after [`IDLE_TIMEOUT`] (nginx's
//! `keepalive_timeout`); on shutdown, connections close at the next request
//! boundary.

use axum::body::Body;
use bytes::{Buf, Bytes, BytesMut};
use futures::future::BoxFuture;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// How long a connection may wait for (the rest of) a request head.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// A head larger than this goes to hyper, which refuses it properly.
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

/// What a process serves on the fast path.
pub trait Front: Send + Sync + 'static {
    /// Whether a request for `path` is answered here (else by the service).
    fn claims(&self, path: &str) -> bool;
    /// Larger request bodies go to the service, which refuses them.
    fn body_limit(&self) -> usize;
    /// Answers one claimed request from `peer`.
    fn call(self: Arc<Self>, req: Request<Bytes>, peer: SocketAddr) -> BoxFuture<'static, Response<Body>>;
}

/// A connection whose first bytes were already read: reads give those
/// first. What the fast path hands to hyper.
pub struct Rewind {
    read_ahead: Bytes,
    inner: TcpStream,
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

impl AsyncWrite for Rewind {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request the fast path serves: where its head and body end.
struct Head {
    head_len: usize,
    body_len: usize,
    keep_alive: bool,
}

enum Parsed {
    Partial,
    Mine(Head),
    NotMine,
}

/// Whether `buf` starts with a request the fast path serves.
fn inspect(buf: &[u8], front: &dyn Front) -> Parsed {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut slots);
    let head_len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Parsed::Partial,
        // Too large, too many headers, HTTP/2's preface, garbage: hyper's to answer.
        _ => return Parsed::NotMine,
    };
    let (Some(method), Some(path)) = (r.method, r.path) else { return Parsed::NotMine };
    if method == "CONNECT" || !path.starts_with('/') || !front.claims(path.split('?').next().unwrap_or(path)) {
        return Parsed::NotMine;
    }
    let (mut body_len, mut close, mut keep_alive_token) = (None::<usize>, false, false);
    for h in r.headers.iter() {
        let name = h.name.as_bytes();
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("transfer-encoding") || is("upgrade") || is("expect") {
            return Parsed::NotMine;
        }
        if is("content-length") {
            let n = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse::<usize>().ok());
            match (n, body_len) {
                (Some(n), None) if n <= front.body_limit() => body_len = Some(n),
                // Unparsable, repeated or too large: hyper refuses it.
                _ => return Parsed::NotMine,
            }
        }
        if is("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    // HTTP/1.0 keeps a connection only when asked to; the answer then says so.
    let keep_alive = !close && (r.version == Some(1) || keep_alive_token);
    Parsed::Mine(Head { head_len, body_len: body_len.unwrap_or(0), keep_alive })
}

/// The request in `head` (which [`inspect`] accepted), its path and header
/// values sharing that memory. `None` when a name or value is not one
/// `http` takes; hyper then answers it.
fn request_parts(head: &Bytes) -> Option<http::request::Parts> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut slots);
    r.parse(head).ok()?;
    let mut parts = Request::new(()).into_parts().0;
    parts.method = Method::from_bytes(r.method?.as_bytes()).ok()?;
    parts.uri = Uri::from_maybe_shared(head.slice_ref(r.path?.as_bytes())).ok()?;
    parts.version = if r.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 };
    parts.headers.reserve(r.headers.len());
    for h in r.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = HeaderValue::from_maybe_shared(head.slice_ref(h.value)).ok()?;
        parts.headers.append(name, value);
    }
    Some(parts)
}

/// Serves the requests of one connection that `front` claims. Returns the
/// connection (with what was read of the next request) when a request is
/// not the front's, or `None` once the connection is closed.
pub async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    front: Arc<dyn Front>,
    stop: CancellationToken,
) -> Option<Rewind> {
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(1024);
    let mut stopped = std::pin::pin!(stop.cancelled());
    loop {
        let (head_len, body_len, keep_alive) = loop {
            match inspect(&buf, &*front) {
                Parsed::Mine(Head { head_len, body_len, keep_alive }) if buf.len() >= head_len + body_len => {
                    break (head_len, body_len, keep_alive);
                }
                Parsed::NotMine => return Some(Rewind { read_ahead: buf.freeze(), inner: stream }),
                Parsed::Mine(_) | Parsed::Partial => {}
            }
            buf.reserve(4 * 1024);
            let read = tokio::select! {
                biased;
                r = tokio::time::timeout(IDLE_TIMEOUT, stream.read_buf(&mut buf)) => r,
                // Between requests only: a request begun is answered.
                _ = &mut stopped, if buf.is_empty() => return None,
            };
            match read {
                Ok(Ok(n)) if n > 0 => {}
                _ => return None,
            }
        };
        let head = buf.split_to(head_len).freeze();
        let Some(parts) = request_parts(&head) else {
            let mut all = BytesMut::from(&head[..]);
            all.extend_from_slice(&buf);
            return Some(Rewind { read_ahead: all.freeze(), inner: stream });
        };
        let body = buf.split_to(body_len).freeze();
        let head_only = parts.method == Method::HEAD;
        let version = parts.version;
        let resp = front.clone().call(Request::from_parts(parts, body), peer).await;
        let keep_alive = keep_alive
            && !stop.is_cancelled()
            && !resp.headers().get_all(header::CONNECTION).iter().any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        match write_response(&mut stream, &mut out, resp, version, head_only, keep_alive).await {
            Ok(true) if keep_alive => {}
            _ => {
                let _ = stream.shutdown().await;
                return None;
            }
        }
    }
}

/// Writes `resp`; `Ok(false)` when the connection cannot carry another
/// request (the body's end is marked by closing it, or it came up short).
async fn write_response(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    resp: Response<Body>,
    version: Version,
    head_only: bool,
    keep_alive: bool,
) -> io::Result<bool> {
    let (parts, mut body) = resp.into_parts();
    let status = parts.status;
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let bodiless = head_only
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    // How the body's end is marked: its length, chunks, or the close.
    let exact = body.size_hint().exact();
    let chunked = !bodiless && exact.is_none() && version == Version::HTTP_11;
    for (name, value) in &parts.headers {
        let framing = name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING;
        if (framing && !bodiless) || name == header::CONNECTION {
            continue;
        }
        put_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if !parts.headers.contains_key(header::DATE) {
        put_header(out, b"date", date().as_bytes());
    }
    if !bodiless {
        match exact {
            Some(n) => {
                use std::io::Write as _;
                let _ = write!(out, "content-length: {n}\r\n");
            }
            None if chunked => put_header(out, b"transfer-encoding", b"chunked"),
            None => {}
        }
    }
    let until_close = !bodiless && exact.is_none() && !chunked;
    let keep = keep_alive && !until_close;
    match (keep, version) {
        (false, _) => put_header(out, b"connection", b"close"),
        (true, Version::HTTP_10) => put_header(out, b"connection", b"keep-alive"),
        (true, _) => {}
    }
    out.extend_from_slice(b"\r\n");
    if bodiless {
        stream.write_all(out).await?;
        return Ok(keep);
    }
    let mut sent: u64 = 0;
    let mut head_pending = true;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                // A short body can only be told by closing the connection.
                tracing::debug!(error = %e, "answer body failed");
                if head_pending {
                    stream.write_all(out).await?;
                }
                return Ok(false);
            }
        };
        // Trailers are dropped, as hyper's server does for HTTP/1.1.
        let Ok(data) = frame.into_data() else { continue };
        if data.is_empty() {
            continue;
        }
        sent += data.len() as u64;
        if chunked {
            let size = format!("{:x}\r\n", data.len());
            let mut bufs: Vec<&[u8]> = Vec::with_capacity(4);
            if head_pending {
                bufs.push(out);
            }
            bufs.extend([size.as_bytes(), &data[..], b"\r\n"]);
            write_all_slices(stream, &bufs).await?;
        } else if head_pending {
            write_all_slices(stream, &[out, &data[..]]).await?;
        } else {
            stream.write_all(&data).await?;
        }
        head_pending = false;
    }
    if head_pending {
        stream.write_all(out).await?;
    }
    if chunked {
        stream.write_all(b"0\r\n\r\n").await?;
    }
    Ok(keep && exact.is_none_or(|n| n == sent))
}

fn put_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes the slices in as few system calls as the kernel allows.
async fn write_all_slices(stream: &mut TcpStream, slices: &[&[u8]]) -> io::Result<()> {
    let mut bufs: Vec<io::IoSlice<'_>> = slices.iter().map(|s| io::IoSlice::new(s)).collect();
    crate::upstream::write_all_vectored(stream, &mut bufs).await
}

/// The `Date` header's value, formatted once a second per thread.
fn date() -> String {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};
    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != second || c.1.is_empty() {
            *c = (second, httpdate::fmt_http_date(now));
        }
        c.1.clone()
    })
}
