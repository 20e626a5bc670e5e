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
//! hyper's own parser, once: the process reads them as the bytes they
//! arrived in ([`Incoming`]), and an upstream's answer goes back from the
//! bytes it arrived in too ([`Answer::Relayed`]), without building header
//! maps for either — by `perf`, those maps were the largest part of what
//! the gateway spent per proxied request beyond nginx.
//!
//! Keep-alive as HTTP/1.1 has it (pipelined requests are answered in
//! order). The listener's rules hold here as on hyper's connections
//! (`platform::conn`): connections are admitted against the caps; a
//! request head must arrive whole within the header timeout of the server
//! starting to wait for it (so an idle kept-alive connection closes then);
//! a body must keep up the minimum rate or is answered 408. On shutdown,
//! connections close at the next request boundary.

use crate::upstream::header_line;
use axum::body::Body;
use axum::response::IntoResponse;
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode, Version};
use http_body_util::BodyExt;
use platform::listen::{FastPath, HandedOver, Rewind};
use smallvec::SmallVec;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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
    fn call(self: &Arc<Self>, req: Incoming, peer: SocketAddr) -> impl Future<Output = Answer> + Send + 'static;
}

/// A [`Front`] as its workers hold it: it serves a connection's run of
/// claimed requests (see [`serve_connection`]). The one boxed future is per
/// connection, not per request.
pub trait ServeFront: Send + Sync + 'static {
    fn serve(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        rules: Deadlines,
        stop: CancellationToken,
    ) -> BoxFuture<'static, Option<Rewind>>;
}

impl<F: Front> ServeFront for F {
    fn serve(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        rules: Deadlines,
        stop: CancellationToken,
    ) -> BoxFuture<'static, Option<Rewind>> {
        Box::pin(serve_connection(stream, peer, self, rules, stop))
    }
}

/// The listener's deadlines, as a connection's loop applies them.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// A head must arrive within this of the wait for it starting; a body
    /// must bring `min_body_per_window` bytes in each such window.
    pub header_timeout: Duration,
    pub min_body_per_window: usize,
}

impl Deadlines {
    pub fn of(settings: &platform::conn::ConnectionSettings) -> Deadlines {
        let per_window = settings.min_body_bytes_per_sec.saturating_mul(settings.header_timeout_ms) / 1000;
        Deadlines { header_timeout: settings.header_timeout(), min_body_per_window: per_window as usize }
    }
}

/// A request read on the fast path: its head as it arrived, with where each
/// part of it is, and its body.
pub struct Incoming {
    pub method: Method,
    pub version: Version,
    head: Bytes,
    target: (u16, u16),
    lines: SmallVec<[Line; 12]>,
    pub body: Bytes,
}

/// Where a header line's name and value are in the head.
#[derive(Clone, Copy)]
struct Line {
    name: (u16, u16),
    value: (u16, u16),
}

impl Incoming {
    fn at(&self, (start, end): (u16, u16)) -> &[u8] {
        &self.head[start as usize..end as usize]
    }

    /// The request target (origin form: path and query) as sent.
    pub fn target(&self) -> &[u8] {
        self.at(self.target)
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        let target = std::str::from_utf8(self.target()).unwrap_or("/");
        target.split_once('?').map_or(target, |(path, _)| path)
    }

    pub fn query(&self) -> Option<&str> {
        std::str::from_utf8(self.target()).ok()?.split_once('?').map(|(_, q)| q)
    }

    /// The header lines in order, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Clone {
        self.lines.iter().map(|l| (self.at(l.name), self.at(l.value)))
    }

    /// `value` (a slice of this request's head) as a header value sharing its memory.
    pub fn shared_value(&self, value: &[u8]) -> Option<HeaderValue> {
        HeaderValue::from_maybe_shared(self.head.slice_ref(value)).ok()
    }
}

/// What the fast path writes back.
pub enum Answer {
    /// An answer the process made (an error, a refusal).
    Made(Response<Body>),
    /// An upstream instance's answer relayed: its end-to-end headers, then
    /// `extra` (which replace the instance's of the same names).
    Relayed(Box<Relayed>),
}

/// An upstream's answer and the headers added to it, in one allocation.
pub struct Relayed {
    answer: crate::upstream::Answer,
    extra: SmallVec<[(HeaderName, HeaderValue); 4]>,
}

impl Answer {
    pub fn relayed(answer: crate::upstream::Answer) -> Answer {
        Answer::Relayed(Box::new(Relayed { answer, extra: SmallVec::new() }))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Answer::Made(resp) => resp.status(),
            Answer::Relayed(r) => r.answer.head.status,
        }
    }

    /// Sets header `name` to `value`, replacing what was there.
    pub fn insert_header(&mut self, name: HeaderName, value: HeaderValue) {
        match self {
            Answer::Made(resp) => {
                resp.headers_mut().insert(name, value);
            }
            Answer::Relayed(r) => match r.extra.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value,
                None => r.extra.push((name, value)),
            },
        }
    }

    /// As a response for hyper. A relayed head that `http` cannot hold
    /// (rare: httparse accepts a little more) is a bad gateway.
    pub fn into_response(self) -> Response<Body> {
        match self {
            Answer::Made(resp) => resp,
            Answer::Relayed(r) => {
                let Relayed { answer, extra } = *r;
                let mut resp = match answer.into_response() {
                    Ok(resp) => resp.map(Body::new),
                    Err(e) => {
                        tracing::warn!(error = %e, "upstream answer not representable");
                        return platform::ApiError::new(StatusCode::BAD_GATEWAY, "The upstream answer was malformed")
                            .into_response();
                    }
                };
                for (name, value) in extra {
                    resp.headers_mut().insert(name, value);
                }
                resp
            }
        }
    }
}

/// A [`Front`] as the server starts it: its per-core workers
/// ([`platform::listen::FastPath`]).
pub struct Workers(Arc<dyn ServeFront>);

impl Workers {
    pub fn new(front: Arc<dyn ServeFront>) -> Arc<Workers> {
        Arc::new(Workers(front))
    }
}

impl FastPath for Workers {
    fn spawn(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        connections: Arc<platform::conn::Connections>,
        stop: CancellationToken,
        tracker: tokio_util::task::TaskTracker,
    ) -> io::Result<tokio::sync::mpsc::UnboundedReceiver<HandedOver>> {
        spawn_workers(listener, self.0.clone(), connections, stop, tracker)
    }
}

/// Serves the fast path as nginx's workers do: one single-threaded runtime
/// per core, each accepting from `listener` and serving its connections
/// start to end on its own thread, with its own reactor and its own kept
/// upstream connections. Measured on this machine, a work-stealing runtime
/// left the cores idle ~6 % of the time under load (where nginx left none)
/// as wake-ups crossed between threads (docs/BENCHMARKS.md).
///
/// A connection whose request is not the fast path's comes back on the
/// returned channel, for hyper on the calling runtime. Connections count in
/// `tracker`, so shutdown can wait for requests in flight; the workers stop
/// accepting when `stop` is cancelled.
fn spawn_workers(
    listener: tokio::net::TcpListener,
    front: Arc<dyn ServeFront>,
    connections: Arc<platform::conn::Connections>,
    stop: CancellationToken,
    tracker: tokio_util::task::TaskTracker,
) -> io::Result<tokio::sync::mpsc::UnboundedReceiver<HandedOver>> {
    let listener = listener.into_std()?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    for i in 0..workers {
        let (listener, front, connections, stop, tracker, tx) =
            (listener.try_clone()?, front.clone(), connections.clone(), stop.clone(), tracker.clone(), tx.clone());
        let rules = Deadlines::of(&connections.settings);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        // Registered with the worker's reactor here, so a failure is the
        // caller's to report rather than a worker that silently never accepts.
        let listener = {
            let _in_runtime = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        std::thread::Builder::new().name(format!("front-{i}")).spawn(move || {
            runtime.block_on(async move {
                while let Some((tcp, peer)) = platform::listen::accept(&listener, &stop).await {
                    // Past a cap the connection is closed at once, not queued.
                    let Some(admitted) = connections.admit(peer.ip()) else { continue };
                    let (front, stop, tx) = (front.clone(), stop.clone(), tx.clone());
                    tracker.spawn(async move {
                        let Some(rest) = front.serve(tcp, peer, rules, stop).await else { return };
                        let (read_ahead, tcp) = rest.into_parts();
                        if let Ok(tcp) = tcp.into_std() {
                            let _ = tx.send((read_ahead, tcp, peer, admitted));
                        }
                    });
                }
                drop(listener);
                // This runtime's connections end at their next request
                // boundary; it must run until they have.
                tracker.close();
                tracker.wait().await;
            })
        })?;
    }
    Ok(rx)
}

/// A request the fast path serves: what its head says and where its body
/// ends. Offsets are into the connection's buffer.
struct Head {
    head_len: usize,
    body_len: usize,
    keep_alive: bool,
    method: Method,
    version: Version,
    target: (u16, u16),
    lines: SmallVec<[Line; 12]>,
}

enum Parsed {
    Partial,
    Mine(Head),
    NotMine,
}

/// Whether `buf` starts with a request the fast path serves.
fn inspect(buf: &[u8], front: &impl Front) -> Parsed {
    let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut []);
    let head_len = match r.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Parsed::Partial,
        // Too large, too many headers, HTTP/2's preface, garbage: hyper's to answer.
        _ => return Parsed::NotMine,
    };
    let (Some(method), Some(path)) = (r.method, r.path) else { return Parsed::NotMine };
    // A target outside RFC 3986's characters (raw UTF-8, `<>{}|^`, a
    // `#fragment`) is hyper's to refuse or accept, so both paths answer it
    // the same (the differential test below holds them to it).
    if method == "CONNECT"
        || !path.starts_with('/')
        || !path.bytes().all(is_target_byte)
        || !front.claims(path.split('?').next().unwrap_or(path))
    {
        return Parsed::NotMine;
    }
    let Ok(method) = Method::from_bytes(method.as_bytes()) else { return Parsed::NotMine };
    // Offsets fit in 16 bits: the head is at most MAX_HEAD long.
    let at = |part: &[u8]| {
        let start = part.as_ptr() as usize - buf.as_ptr() as usize;
        (start as u16, (start + part.len()) as u16)
    };
    let (mut body_len, mut close, mut keep_alive_token) = (None::<usize>, false, false);
    let mut lines = SmallVec::new();
    for h in r.headers.iter() {
        let name = h.name.as_bytes();
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("transfer-encoding") || is("upgrade") || is("expect") {
            return Parsed::NotMine;
        }
        if is("content-length") {
            // Digits only, as hyper reads it: `+3` or `3 ` parse as numbers
            // in Rust but are not lengths.
            let digits = !h.value.is_empty() && h.value.len() <= 18 && h.value.iter().all(u8::is_ascii_digit);
            let n = if digits { std::str::from_utf8(h.value).ok().and_then(|v| v.parse::<usize>().ok()) } else { None };
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
        lines.push(Line { name: at(name), value: at(h.value) });
    }
    // HTTP/1.0 keeps a connection only when asked to; the answer then says so.
    let keep_alive = !close && (r.version == Some(1) || keep_alive_token);
    let version = if r.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 };
    Parsed::Mine(Head {
        head_len,
        body_len: body_len.unwrap_or(0),
        keep_alive,
        method,
        version,
        target: at(path.as_bytes()),
        lines,
    })
}

/// Bytes of an origin-form target in RFC 3986 (`pchar`, `/`, `?`, `%`).
fn is_target_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)
}

/// Serves the requests of one connection that `front` claims. Returns the
/// connection (with what was read of the next request) when a request is
/// not the front's, or `None` once the connection is closed.
pub async fn serve_connection<F: Front>(
    mut stream: TcpStream,
    peer: SocketAddr,
    front: Arc<F>,
    rules: Deadlines,
    stop: CancellationToken,
) -> Option<Rewind> {
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(1024);
    let mut stopped = std::pin::pin!(stop.cancelled());
    // When the wait for the current head (or body window) ends. One timer
    // for the connection's life, moved only when it fires before that: a
    // timer set and cleared around every request cost more than a clock
    // reading does.
    let mut deadline = Instant::now() + rules.header_timeout;
    let timer = tokio::time::sleep_until(deadline);
    let mut timer = std::pin::pin!(timer);
    // While a body is arriving: how much of the buffer it had when the
    // current window began.
    let mut body_window: Option<usize> = None;
    loop {
        let head = loop {
            match inspect(&buf, &*front) {
                Parsed::Mine(head) if buf.len() >= head.head_len + head.body_len => break head,
                Parsed::NotMine => return Some(Rewind::new(buf.freeze(), stream)),
                Parsed::Mine(head) => {
                    if body_window.is_none() {
                        // The head is in: the body's windows start, and the
                        // buffer is sized to the declared length once.
                        body_window = Some(buf.len());
                        deadline = Instant::now() + rules.header_timeout;
                        let whole = head.head_len + head.body_len;
                        if buf.capacity() < whole {
                            let mut sized = BytesMut::with_capacity(whole);
                            sized.extend_from_slice(&buf);
                            buf = sized;
                        }
                    }
                }
                Parsed::Partial => buf.reserve(4 * 1024),
            }
            let read = tokio::select! {
                biased;
                r = stream.read_buf(&mut buf) => r,
                () = &mut timer => {
                    let now = Instant::now();
                    if now < deadline {
                        timer.as_mut().reset(deadline);
                        continue;
                    }
                    match body_window {
                        // The head did not arrive in time (or an idle
                        // kept-alive connection): closed without an answer.
                        None => return None,
                        Some(start) if buf.len() - start < rules.min_body_per_window => {
                            let _ = stream.write_all(BODY_TOO_SLOW).await;
                            let _ = stream.shutdown().await;
                            return None;
                        }
                        Some(_) => {
                            body_window = Some(buf.len());
                            deadline = now + rules.header_timeout;
                            timer.as_mut().reset(deadline);
                            continue;
                        }
                    }
                }
                // Between requests only: a request begun is answered.
                _ = &mut stopped, if buf.is_empty() => return None,
            };
            match read {
                Ok(n) if n > 0 => {}
                _ => return None,
            }
        };
        let Head { head_len, body_len, keep_alive, method, version, target, lines } = head;
        let head_only = method == Method::HEAD;
        let req = Incoming {
            method,
            version,
            head: buf.split_to(head_len).freeze(),
            target,
            lines,
            body: buf.split_to(body_len).freeze(),
        };
        let answer = front.call(req, peer).await;
        // The wait for the next head starts when this answer is written.
        let keep_alive = keep_alive && !stop.is_cancelled() && !asks_to_close(&answer);
        match write_answer(&mut stream, &mut out, answer, version, head_only, keep_alive).await {
            Ok(true) if keep_alive => {
                body_window = None;
                deadline = Instant::now() + rules.header_timeout;
            }
            _ => {
                let _ = stream.shutdown().await;
                return None;
            }
        }
    }
}

/// The answer to a body that arrived slower than the minimum rate.
const BODY_TOO_SLOW: &[u8] = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n\
content-length: 47\r\nconnection: close\r\n\r\n{\"error\":\"The request body arrived too slowly\"}";

/// Whether the process's own answer closes the connection (it did not read
/// the request's body to its end). A relayed `Connection` header is about
/// the upstream's connection, not this one.
fn asks_to_close(answer: &Answer) -> bool {
    match answer {
        Answer::Made(resp) => {
            resp.headers().get_all(header::CONNECTION).iter().any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
        }
        Answer::Relayed(_) => false,
    }
}

/// Writes `answer`; `Ok(false)` when the connection cannot carry another
/// request (the body's end is marked by closing it, or it came up short).
async fn write_answer(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    answer: Answer,
    version: Version,
    head_only: bool,
    keep_alive: bool,
) -> io::Result<bool> {
    let how = How { version, head_only, keep_alive };
    match answer {
        Answer::Made(resp) => {
            let (parts, body) = resp.into_parts();
            let lines = |out: &mut Vec<u8>, bodiless: bool| {
                let mut dated = false;
                for (name, value) in &parts.headers {
                    let name = name.as_str().as_bytes();
                    if passes(name, bodiless) {
                        dated |= name == b"date";
                        header_line(out, name, value.as_bytes());
                    }
                }
                dated
            };
            write_message(stream, out, parts.status, lines, body, how).await
        }
        Answer::Relayed(r) => {
            let Relayed { answer: crate::upstream::Answer { head, body }, extra } = *r;
            let lines = |out: &mut Vec<u8>, bodiless: bool| {
                let mut dated = false;
                // The instance's lines, but not those `extra` replaces.
                head.write_relayed(out, |name| {
                    let keep =
                        passes(name, bodiless) && !extra.iter().any(|(n, _)| name.eq_ignore_ascii_case(n.as_ref()));
                    dated |= keep && name.eq_ignore_ascii_case(b"date");
                    keep
                });
                for (name, value) in &extra {
                    header_line(out, name.as_str().as_bytes(), value.as_bytes());
                }
                dated
            };
            write_message(stream, out, head.status, lines, body, how).await
        }
    }
}

/// How an answer goes out: to which request, and whether the connection
/// may stay open after it.
struct How {
    version: Version,
    head_only: bool,
    keep_alive: bool,
}

/// Whether a header line of the answer is written as it is: the framing
/// and the connection's fate are this hop's to say.
fn passes(name: &[u8], bodiless: bool) -> bool {
    let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
    let framing = is(b"content-length") || is(b"transfer-encoding");
    (!framing || bodiless) && !is(b"connection")
}

/// Writes an answer: the status line, the header lines `lines` writes
/// (told whether the answer is bodiless; it says whether it wrote `Date`),
/// then framing, then the body.
async fn write_message<B>(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    status: StatusCode,
    lines: impl FnOnce(&mut Vec<u8>, bool) -> bool,
    body: B,
    How { version, head_only, keep_alive }: How,
) -> io::Result<bool>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut body = body;
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
    if !lines(out, bodiless) {
        put_date(out);
    }
    if !bodiless {
        match exact {
            Some(n) => header_line(out, b"content-length", itoa::Buffer::new().format(n).as_bytes()),
            None if chunked => header_line(out, b"transfer-encoding", b"chunked"),
            None => {}
        }
    }
    let until_close = !bodiless && exact.is_none() && !chunked;
    let keep = keep_alive && !until_close;
    match (keep, version) {
        (false, _) => header_line(out, b"connection", b"close"),
        (true, Version::HTTP_10) => header_line(out, b"connection", b"keep-alive"),
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
            let mut size = [0u8; 18];
            let size = chunk_size_line(&mut size, data.len());
            let mut bufs: SmallVec<[&[u8]; 4]> = SmallVec::new();
            if head_pending {
                bufs.push(out);
            }
            bufs.extend([size, &data[..], b"\r\n"]);
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

/// `{len:x}\r\n` in `buf`.
fn chunk_size_line(buf: &mut [u8; 18], len: usize) -> &[u8] {
    let mut cursor = io::Cursor::new(&mut buf[..]);
    let _ = io::Write::write_fmt(&mut cursor, format_args!("{len:x}\r\n"));
    let n = cursor.position() as usize;
    &buf[..n]
}

/// Writes the slices in as few system calls as the kernel allows.
async fn write_all_slices(stream: &mut TcpStream, slices: &[&[u8]]) -> io::Result<()> {
    let mut bufs: SmallVec<[io::IoSlice<'_>; 4]> = slices.iter().map(|s| io::IoSlice::new(s)).collect();
    crate::upstream::write_all_vectored(stream, &mut bufs).await
}

/// The `Date` header, its value formatted once a second per thread.
fn put_date(out: &mut Vec<u8>) {
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
        header_line(out, b"date", c.1.as_bytes());
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Answers every request with a short body.
    struct Ok200;

    impl Front for Ok200 {
        fn claims(&self, _: &str) -> bool {
            true
        }
        fn body_limit(&self) -> usize {
            64 * 1024
        }
        fn call(self: &Arc<Self>, _: Incoming, _: SocketAddr) -> impl Future<Output = Answer> + Send + 'static {
            std::future::ready(Answer::Made(Response::new(Body::from("ok"))))
        }
    }

    const RULES: Deadlines = Deadlines { header_timeout: Duration::from_secs(10), min_body_per_window: 10_000 };

    async fn connected() -> (TcpStream, tokio::task::JoinHandle<Option<Rewind>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server_side, peer) = listener.accept().await.unwrap();
        let served =
            tokio::spawn(serve_connection(server_side, peer, Arc::new(Ok200), RULES, CancellationToken::new()));
        (client, served)
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_closes_after_the_header_timeout_counted_from_its_last_answer() {
        let (mut client, served) = connected().await;
        // A request 9 s in: the connection lives on past 10 s from its start.
        tokio::time::sleep(Duration::from_secs(9)).await;
        client.write_all(b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        let mut answer = vec![0u8; 1024];
        let n = client.read(&mut answer).await.unwrap();
        assert!(answer[..n].starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", String::from_utf8_lossy(&answer[..n]));
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert!(!served.is_finished(), "closed 9 s after the last answer");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(served.is_finished(), "still open 11 s after the last answer");
        assert_eq!(client.read(&mut answer).await.unwrap(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_sent_a_byte_at_a_time_is_cut_off_at_the_header_timeout() {
        let (mut client, served) = connected().await;
        let head = b"GET /x HTTP/1.1\r\nhost: x\r\nx-pad: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        for &byte in &head[..20] {
            // Writes fail once the server has closed.
            if client.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        // 12 s in, the head is still not whole: the connection is gone.
        assert!(served.is_finished());
        let mut answer = vec![0u8; 64];
        assert_eq!(client.read(&mut answer).await.unwrap_or(0), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickling_body_gets_408_and_a_steady_one_is_served() {
        let (mut client, served) = connected().await;
        client.write_all(b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n").await.unwrap();
        for _ in 0..3 {
            client.write_all(b"x").await.unwrap();
            tokio::time::sleep(Duration::from_secs(4)).await;
        }
        let mut answer = vec![0u8; 1024];
        let n = client.read(&mut answer).await.unwrap();
        assert!(answer[..n].starts_with(b"HTTP/1.1 408 "), "{}", String::from_utf8_lossy(&answer[..n]));
        assert!(served.await.unwrap().is_none());

        // 1000 bytes over 15 s, well above the rate in each window... but
        // here the rule asks 10 000 per window, so send them in two halves.
        let (mut client, _served) = connected().await;
        client.write_all(b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 20000\r\n\r\n").await.unwrap();
        client.write_all(&[b'x'; 10_000]).await.unwrap();
        tokio::time::sleep(Duration::from_secs(9)).await;
        client.write_all(&[b'x'; 10_000]).await.unwrap();
        let n = client.read(&mut answer).await.unwrap();
        assert!(answer[..n].starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", String::from_utf8_lossy(&answer[..n]));
    }

    /// Claims every path, as a front whose prefix is `/` would.
    struct ClaimAll;

    impl Front for ClaimAll {
        fn claims(&self, _: &str) -> bool {
            true
        }
        fn body_limit(&self) -> usize {
            1024
        }
        fn call(self: &Arc<Self>, _: Incoming, _: SocketAddr) -> impl Future<Output = Answer> + Send + 'static {
            std::future::ready(Answer::Made(Response::new(Body::empty())))
        }
    }

    /// What a parser made of a request: method, target and body length.
    type Reading = (String, String, usize);

    fn fast_path_reads(raw: &[u8]) -> Option<Reading> {
        match inspect(raw, &ClaimAll) {
            Parsed::Mine(h) if raw.len() >= h.head_len + h.body_len => {
                let target = String::from_utf8_lossy(&raw[h.target.0 as usize..h.target.1 as usize]).into_owned();
                Some((h.method.to_string(), target, h.body_len))
            }
            _ => None,
        }
    }

    /// Serves `raw` with hyper's HTTP/1 server; what its service saw, if
    /// hyper let the request through.
    async fn hyper_reads(raw: &[u8]) -> Option<Reading> {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let seen = Arc::new(std::sync::Mutex::new(None));
        let record = seen.clone();
        let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let record = record.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await.map(|b| b.to_bytes().len()).unwrap_or(usize::MAX);
                let target = parts.uri.path_and_query().map_or(String::new(), |p| p.as_str().to_string());
                *record.lock().unwrap() = Some((parts.method.to_string(), target, body));
                Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Empty::<Bytes>::new()))
            }
        });
        let conn =
            hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(server), svc);
        let served = tokio::spawn(conn);
        client.write_all(raw).await.unwrap();
        // Until hyper answers (the service records before it does) or closes.
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let mut chunk = [0u8; 1024];
            while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
                match client.read(&mut chunk).await {
                    Ok(n) if n > 0 => answer.extend_from_slice(&chunk[..n]),
                    _ => break,
                }
            }
        })
        .await;
        served.abort();
        seen.lock().unwrap().clone()
    }

    /// The fast path serves only requests hyper would serve, read the same
    /// way (method, target, body length); whatever it is unsure of goes to
    /// hyper. The corpus holds what the two parsers were found to differ on
    /// and its neighbours.
    #[tokio::test]
    async fn the_fast_path_reads_requests_exactly_as_hyper_does() {
        let targets = [
            "/x",
            "/x?a=b&c=%20d",
            "/api/v1/streaming/user",
            "//x",
            "/x?",
            "/a;b=c",
            "/~u/x.y_z-1",
            "/%zz",
            "/x#frag",
            "/\u{fc}ber",
            "/<script>",
            "/{a}",
            "/a|b",
            "/a^b",
            "/a\"b",
            "/a`b",
            "/a\\b",
            "/a b",
            "*",
            "http://example.org/x",
            "/a\x7fb",
        ];
        let lengths = [
            Some("3"),
            Some("+3"),
            Some("-3"),
            Some(" 3"),
            Some("3 "),
            Some("03"),
            Some("3, 3"),
            Some("0x3"),
            Some(""),
            Some("99999999999999999999"),
            Some("3\t"),
            Some("٣"),
            None,
        ];
        let mut corpus: Vec<Vec<u8>> = Vec::new();
        for target in targets {
            for length in lengths {
                let mut raw = format!("POST {target} HTTP/1.1\r\nhost: x\r\n").into_bytes();
                if let Some(l) = length {
                    raw.extend_from_slice(format!("content-length: {l}\r\n").as_bytes());
                }
                raw.extend_from_slice(b"\r\nabc");
                corpus.push(raw);
            }
        }
        for raw in [
            &b"GET /x HTTP/1.0\r\n\r\n"[..],
            b"GET /x HTTP/1.2\r\nhost: x\r\n\r\n",
            b"GET /x HTTP/2.0\r\nhost: x\r\n\r\n",
            b"get /x HTTP/1.1\r\nhost: x\r\n\r\n",
            b"PROPFIND /x HTTP/1.1\r\nhost: x\r\n\r\n",
            b"G@T /x HTTP/1.1\r\nhost: x\r\n\r\n",
            b"POST /x HTTP/1.1\r\ncontent-length: 3\r\ncontent-length: 3\r\n\r\nabc",
            b"POST /x HTTP/1.1\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd",
            b"POST /x HTTP/1.1\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            b"POST /x HTTP/1.1\r\ncontent-length : 3\r\n\r\nabc",
            b"GET /x HTTP/1.1\r\nx-a: 1\r\n continued\r\n\r\n",
            b"GET /x HTTP/1.1\r\nx_under: 1\r\n\r\n",
            b"GET /x HTTP/1.1\r\nx-a: \x001\r\n\r\n",
            b"GET /x HTTP/1.1\r\nx-a: caf\xc3\xa9\r\n\r\n",
            b"GET /x HTTP/1.1\nhost: x\n\n",
            b"GET  /x HTTP/1.1\r\n\r\n",
        ] {
            corpus.push(raw.to_vec());
        }
        let (mut both, mut deferred) = (0, 0);
        for raw in &corpus {
            let shown = String::from_utf8_lossy(raw);
            let hyper = hyper_reads(raw).await;
            match fast_path_reads(raw) {
                Some(fast) => {
                    assert_eq!(Some(&fast), hyper.as_ref(), "the parsers differ on {shown:?}");
                    both += 1;
                }
                None => deferred += 1,
            }
        }
        // The corpus exercises both sides.
        assert!(both >= 10 && deferred >= 100, "served on the fast path {both}, deferred {deferred}");
        for known in [
            &b"POST /x HTTP/1.1\r\ncontent-length: +3\r\n\r\nabc"[..],
            b"GET /\xc3\xbc HTTP/1.1\r\n\r\n",
            b"GET /<x> HTTP/1.1\r\n\r\n",
            b"GET /x#frag HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(fast_path_reads(known), None, "{}", String::from_utf8_lossy(known));
        }
    }
}
