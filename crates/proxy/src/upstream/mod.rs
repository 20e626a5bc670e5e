//! HTTP/1.1 to upstream instances, with the I/O in the caller's task.
//!
//! The gateway's pass-through routes forward each request to an upstream
//! over a kept-alive connection and stream the answer back. hyper-util's
//! pooled client does this by handing every request to a task of its own per
//! connection (a channel send, a wake-up — often on the other worker thread —
//! and a second wake-up for the answer); measured against nginx, that
//! hand-off was most of what a hyper-based proxy pays over nginx's single
//! event loop (docs/BENCHMARKS.md). Here the task serving the client
//! connection writes the request and reads the answer itself, as nginx does.
//!
//! What it speaks: requests with a buffered body (the gateway buffers them
//! so a request that never reached an instance can go to another), answers
//! framed by `Content-Length`, chunked transfer coding or the end of the
//! connection, no body for `HEAD`, 1xx, 204 and 304, and `101 Switching
//! Protocols`, after which the connection is handed over for splicing.
//! Heads are parsed by `httparse` (hyper's parser). Trailers are read and
//! dropped, as hyper's server does for HTTP/1.1 clients.
//!
//! Idle connections are kept per instance, newest first, for
//! [`IDLE_TIMEOUT`]; one that the instance closed meanwhile is noticed before
//! reuse (the readiness the runtime already tracks, no system call when it is
//! still open) and dropped.
//!
//! Modules: `pool` (kept connections), `parse` (answer heads), `body`
//! (bodies by their framing, upgrades), `relay` (heads written and relayed
//! as bytes); this one sends a request and reads the head of its answer.

mod body;
mod parse;
mod pool;
mod relay;

pub use body::{Upgraded, UpstreamBody};
pub use relay::{Answer, AnswerHead, HopByHop, header_line, request_head, write_all_vectored};

use body::{Chunk, Conn, State};
use parse::{Framing, parse_answer};

use bytes::{Buf, Bytes, BytesMut};
use http::Method;
use std::io;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// How long an idle connection is kept for reuse.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections kept per instance and thread; more are closed (as nginx's `keepalive`).
const MAX_IDLE_PER_INSTANCE: usize = 256;
/// An answer's head larger than this is refused (hyper's default buffer is 400 KiB; nginx's 4–8 KiB).
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;
/// Reads into the connection buffer in steps of at least this much.
const READ_CHUNK: usize = 8 * 1024;

/// Why an exchange failed, as far as the caller can tell whether the
/// instance saw the request.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection could be made: the request went nowhere.
    #[error("connect to {0} failed: {1}")]
    NotSent(String, io::Error),
    /// The request was written (or partly) and no usable answer came.
    #[error("{0}: {1}")]
    Failed(String, io::Error),
}

/// Connections to upstream instances, shared by every request of a route.
/// A cheap clonable handle.
///
/// Idle connections are kept per thread: a connection belongs to the
/// reactor of the runtime that opened it, and the server's fast path runs
/// one single-threaded runtime per core (`crate::front`), so a
/// connection reused on another core would have its wake-ups cross over
/// from the first. Per thread, no lock is shared either.
#[derive(Clone)]
pub struct Upstreams {
    pub(crate) id: u64,
    connect_timeout: Duration,
}

impl Upstreams {
    pub fn new(connect_timeout: Duration) -> Upstreams {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Upstreams { id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed), connect_timeout }
    }

    /// A new connection to `addr`.
    async fn connect(&self, addr: &str) -> Result<TcpStream, SendError> {
        let stream = match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(SendError::NotSent(addr.to_string(), e)),
            Err(_) => {
                let e =
                    io::Error::new(io::ErrorKind::TimedOut, format!("no connection within {:?}", self.connect_timeout));
                return Err(SendError::NotSent(addr.to_string(), e));
            }
        };
        // Small requests and answers must leave at once (see platform::server).
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// Sends one request to the instance at `addr` and reads the head of
    /// its answer. `write_head` writes the request head into the
    /// connection's buffer (see [`request_head`]); `method` is the one it
    /// wrote, which decides whether the answer has a body.
    pub async fn send(
        &self,
        addr: &str,
        method: &Method,
        write_head: impl FnOnce(&mut Vec<u8>),
        body: Bytes,
    ) -> Result<Answer, SendError> {
        let (key, kept) = pool::kept(self.id, addr);
        let (mut stream, mut buf, mut head, reused) = match kept {
            Some((stream, buf, head)) => (stream, buf, head, true),
            // Connecting is the rare case, and its future (resolution, the
            // connect timer) would more than double every request's future,
            // which is moved between frames on each call: boxed.
            None => (Box::pin(self.connect(addr)).await?, BytesMut::new(), Vec::with_capacity(512), false),
        };
        head.clear();
        write_head(&mut head);
        let failed = |e: io::Error| SendError::Failed(addr.to_string(), e);
        let written = if body.is_empty() {
            stream.write_all(&head).await
        } else {
            let mut bufs = [io::IoSlice::new(&head), io::IoSlice::new(&body)];
            write_all_vectored(&mut stream, &mut bufs).await
        };
        if let Err(e) = written {
            // A kept connection the instance closed just now: the request
            // never arrived whole, but it may have arrived in part.
            return Err(failed(e));
        }
        // Reclaims the buffer's memory when the last answer's body is gone.
        buf.reserve(READ_CHUNK);
        let (interim, parsed) = loop {
            if let Some(found) = parse_answer(&buf, method).map_err(failed)? {
                break found;
            }
            if buf.len() > MAX_HEAD {
                return Err(failed(io::Error::new(io::ErrorKind::InvalidData, "answer head too large")));
            }
            buf.reserve(READ_CHUNK);
            let n = tokio::io::AsyncReadExt::read_buf(&mut stream, &mut buf).await.map_err(failed)?;
            if n == 0 {
                let why = if buf.is_empty() && reused {
                    "closed a kept-alive connection before answering"
                } else {
                    "closed the connection before a complete answer head"
                };
                return Err(failed(io::Error::new(io::ErrorKind::UnexpectedEof, why)));
            }
        };
        buf.advance(interim);
        let answer_head = buf.split_to(parsed.head_len).freeze();
        let conn = Conn { stream, buf, head, addr: key, keep_alive: parsed.keep_alive, upstreams: self.clone() };
        let body = match parsed.framing {
            Framing::Upgrade => UpstreamBody { state: State::Upgraded(Some(conn)) },
            Framing::Empty => {
                conn.release();
                UpstreamBody::empty()
            }
            // The whole body already arrived (a small answer, the usual
            // case): the connection goes back before the body is sent on.
            Framing::Length(n) if conn.buf.len() as u64 >= n => {
                let mut conn = conn;
                let body = conn.buf.split_to(n as usize).freeze();
                conn.release();
                UpstreamBody { state: State::Full(Some(body)) }
            }
            Framing::Length(n) => UpstreamBody { state: State::Length { conn, remaining: n } },
            Framing::Chunked => UpstreamBody { state: State::Chunked { conn, chunk: Chunk::Size } },
            Framing::UntilClose => UpstreamBody { state: State::UntilClose(conn) },
        };
        Ok(Answer { head: AnswerHead::from_parsed(parsed, answer_head), body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use http::header::{self, HeaderMap, HeaderValue};
    use http_body_util::BodyExt;
    use std::sync::Arc;
    use std::sync::Mutex;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// An instance that answers each connection's requests with the
    /// scripted answers in turn (raw bytes, so framing can be chosen), and
    /// reports each request head it read and how many connections it saw.
    async fn scripted(answers: Vec<&'static [u8]>) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let answers = Arc::new(Mutex::new(answers.into_iter()));
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let (tx, answers) = (tx.clone(), answers.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let mut chunk = [0u8; 4096];
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .map_or(0, |v| v.parse().unwrap());
                        if buf.len() < end + 4 + length {
                            continue;
                        }
                        let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
                        buf.drain(..end + 4 + length);
                        tx.send(format!("{head}\n\n{body}")).unwrap();
                        let next = answers.lock().unwrap().next();
                        match next {
                            Some(a) => s.write_all(a).await.unwrap(),
                            None => return,
                        }
                    }
                });
            }
        });
        (addr, rx)
    }

    /// An instance that answers one request with `parts`, 20 ms apart (so
    /// an answer can arrive in pieces), and closes the connection.
    async fn one_shot(parts: &'static [&'static [u8]]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                s.write_all(part).await.unwrap();
            }
        });
        addr
    }

    /// Sends a request with `headers` as they are and its answer as a response.
    async fn send(
        u: &Upstreams,
        addr: &str,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<http::Response<UpstreamBody>, SendError> {
        let lines = headers.iter().map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
        let len = body.len();
        let answer =
            u.send(addr, method, |out| request_head(out, addr, method, path.as_bytes(), lines, len), body).await?;
        Ok(answer.into_response().expect("representable headers"))
    }

    async fn get(u: &Upstreams, addr: &str, method: Method) -> (StatusCode, HeaderMap, Result<Bytes, io::Error>) {
        let resp = send(u, addr, &method, "/p?q=1", &HeaderMap::new(), Bytes::new()).await.unwrap();
        let (head, body) = resp.into_parts();
        let body = body.collect().await.map(|c| c.to_bytes());
        (head.status, head.headers, body)
    }

    fn idle_count(u: &Upstreams, addr: &str) -> usize {
        pool::idle_count(u.id, addr)
    }

    #[tokio::test]
    async fn answers_of_every_framing_are_read_whole_and_the_connection_is_reused() {
        let (addr, mut seen) = scripted(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\n\r\nhello",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n4;ext=1\r\nwiki\r\n6\r\npedia \r\n0\r\nx-trailer: t\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        ])
        .await;
        let u = Upstreams::new(Duration::from_secs(1));
        let (status, headers, body) = get(&u, &addr, Method::GET).await;
        assert_eq!(
            (status, &headers["x-a"], body.unwrap()),
            (StatusCode::OK, &HeaderValue::from_static("1"), Bytes::from("hello"))
        );
        assert_eq!(idle_count(&u, &addr), 1);
        let head = seen.recv().await.unwrap();
        assert!(head.starts_with("GET /p?q=1 HTTP/1.1\r\nhost: "), "{head}");
        assert!(!head.contains("content-length"), "a GET without a body says no length: {head}");

        let (status, headers, body) = get(&u, &addr, Method::GET).await;
        assert_eq!((status, body.unwrap()), (StatusCode::CREATED, Bytes::from("wikipedia ")));
        assert!(!headers.contains_key(header::CONTENT_LENGTH));
        let (status, _, body) = get(&u, &addr, Method::GET).await;
        assert_eq!((status, body.unwrap()), (StatusCode::NO_CONTENT, Bytes::new()));
        // A HEAD answer has a length and no body.
        let (status, headers, body) = get(&u, &addr, Method::HEAD).await;
        assert_eq!(
            (status, &headers[header::CONTENT_LENGTH], body.unwrap()),
            (StatusCode::OK, &HeaderValue::from_static("3"), Bytes::new())
        );
        let (status, _, body) = get(&u, &addr, Method::GET).await;
        assert_eq!((status, body.unwrap()), (StatusCode::OK, Bytes::new()));
        // Five exchanges, one connection, kept for the next.
        for _ in 0..4 {
            seen.recv().await.unwrap();
        }
        assert_eq!(idle_count(&u, &addr), 1);
    }

    #[tokio::test]
    async fn a_body_until_close_is_read_to_the_end_and_the_connection_not_kept() {
        let addr = one_shot(&[b"HTTP/1.0 200 OK\r\n\r\nfirst ", b"second"]).await;
        let u = Upstreams::new(Duration::from_secs(1));
        let (status, _, body) = get(&u, &addr, Method::GET).await;
        assert_eq!((status, body.unwrap()), (StatusCode::OK, Bytes::from("first second")));
        assert_eq!(idle_count(&u, &addr), 0);
    }

    #[tokio::test]
    async fn a_body_cut_short_is_an_error_not_a_short_answer() {
        let addr = one_shot(&[b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this"]).await;
        let u = Upstreams::new(Duration::from_secs(1));
        let resp = send(&u, &addr, &Method::GET, "/", &HeaderMap::new(), Bytes::new()).await.unwrap();
        let err = resp.into_body().collect().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(idle_count(&u, &addr), 0);
    }

    #[tokio::test]
    async fn request_bodies_carry_their_length_and_headers_go_as_given() {
        let (addr, mut seen) = scripted(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"; 2]).await;
        let u = Upstreams::new(Duration::from_secs(1));
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("example.org"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("999"));
        headers.append("x-b", HeaderValue::from_static("1"));
        headers.append("x-b", HeaderValue::from_static("2"));
        send(&u, &addr, &Method::POST, "/in", &headers, Bytes::from("payload")).await.unwrap();
        let got = seen.recv().await.unwrap();
        assert_eq!(got, "POST /in HTTP/1.1\r\nhost: example.org\r\nx-b: 1\r\nx-b: 2\r\ncontent-length: 7\n\npayload");
        send(&u, &addr, &Method::POST, "/empty", &HeaderMap::new(), Bytes::new()).await.unwrap();
        assert!(seen.recv().await.unwrap().contains("content-length: 0"));
    }

    #[tokio::test]
    async fn a_kept_connection_the_instance_closed_is_not_reused() {
        // One answer per connection, then the instance closes it (as a
        // server whose keep-alive timeout passed does).
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = s.read(&mut buf).await;
                    s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.unwrap();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                });
            }
        });
        let u = Upstreams::new(Duration::from_secs(1));
        for _ in 0..3 {
            let (status, _, body) = get(&u, &addr, Method::GET).await;
            assert_eq!((status, body.unwrap()), (StatusCode::OK, Bytes::from("ok")));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn no_connection_is_not_sent_and_a_malformed_answer_failed() {
        let u = Upstreams::new(Duration::from_secs(1));
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string();
        let e = send(&u, &closed, &Method::GET, "/", &HeaderMap::new(), Bytes::new()).await.unwrap_err();
        assert!(matches!(e, SendError::NotSent(..)), "{e}");
        let (addr, _seen) = scripted(vec![b"NOT HTTP AT ALL\r\n\r\n"]).await;
        let e = send(&u, &addr, &Method::GET, "/", &HeaderMap::new(), Bytes::new()).await.unwrap_err();
        assert!(matches!(e, SendError::Failed(..)), "{e}");
    }

    #[test]
    fn relayed_lines_go_as_they_arrived_in_runs_and_the_rest_rewritten_or_dropped() {
        let raw: &[u8] = b"HTTP/1.1 200 OK\r\nServer: up\r\nX-A:  one\r\nConnection: keep-alive, x-hop\r\n\
            X-Hop: h\r\nKeep-Alive: timeout=5\r\nX-B: two \t\r\nX-C: three\nX-D: four\r\n\
            Transfer-Encoding: chunked\r\nContent-Length: 5\r\nX-Skip: s\r\nX-E: five\r\n\r\n";
        let (interim, parsed) = parse_answer(raw, &Method::GET).unwrap().unwrap();
        assert_eq!(interim, 0);
        let head_len = parsed.head_len;
        let head = AnswerHead::from_parsed(parsed, Bytes::copy_from_slice(&raw[..head_len]));
        let mut out = Vec::new();
        head.write_relayed(&mut out, |name| !name.eq_ignore_ascii_case(b"x-skip"));
        // As sent (the double blank too) where a line stands whole; a bare
        // LF or trailing blanks rewritten; hop-by-hop, the headers
        // `Connection` names and a length beside chunks dropped.
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Server: up\r\nX-A:  one\r\nX-B: two\r\nX-C: three\r\nX-D: four\r\nX-E: five\r\n"
        );
        let mut names = Vec::new();
        head.each_relayed_header(|name, _| names.push(String::from_utf8_lossy(name).into_owned()));
        assert_eq!(names, ["Server", "X-A", "X-B", "X-C", "X-D", "X-Skip", "X-E"]);
    }

    #[tokio::test]
    async fn a_switch_of_protocols_hands_over_the_connection_with_what_followed() {
        let (addr, _seen) =
            scripted(vec![b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\nfirst frame"]).await;
        let u = Upstreams::new(Duration::from_secs(1));
        let resp = send(&u, &addr, &Method::GET, "/ws", &HeaderMap::new(), Bytes::new()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
        let up = resp.into_body().into_upgraded().expect("the connection");
        assert_eq!(up.read_ahead, Bytes::from("first frame"));
        assert_eq!(idle_count(&u, &addr), 0);
    }
}
