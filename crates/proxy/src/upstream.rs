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

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};
use hyper::body::{Body, Frame, SizeHint};
use smallvec::SmallVec;
use std::collections::HashMap;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};
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
/// one single-threaded runtime per core (`platform::front`), so a
/// connection reused on another core would have its wake-ups cross over
/// from the first. Per thread, no lock is shared either.
#[derive(Clone)]
pub struct Upstreams {
    id: u64,
    connect_timeout: Duration,
}

/// Idle connections per `Upstreams` and address. Looked up twice per
/// request (out and back) with keys the process made itself, so a fast
/// hash instead of the default SipHash, whose flooding resistance buys
/// nothing here (by callgrind it saved ~1,300 of ~24,000 instructions per
/// proxied request).
type IdleLists = HashMap<u64, HashMap<Arc<str>, IdleList, foldhash::fast::FixedState>, foldhash::fast::FixedState>;

/// The idle connections to one address, newest last, with the address as
/// the connections share it.
struct IdleList {
    addr: Arc<str>,
    idle: Vec<Idle>,
}

thread_local! {
    static IDLE: std::cell::RefCell<IdleLists> = std::cell::RefCell::default();
}

struct Idle {
    stream: TcpStream,
    /// The connection's buffers, kept so a request reuses warm memory.
    buf: BytesMut,
    head: Vec<u8>,
    since: Instant,
}

impl Upstreams {
    pub fn new(connect_timeout: Duration) -> Upstreams {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Upstreams { id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed), connect_timeout }
    }

    /// The address as the idle lists key it (shared by the connections to
    /// it instead of copied for each request), and a kept connection to it
    /// that is still open, with its buffers.
    #[allow(clippy::type_complexity)]
    fn kept(&self, addr: &str) -> (Arc<str>, Option<(TcpStream, BytesMut, Vec<u8>)>) {
        let pop = || {
            IDLE.with_borrow_mut(|idle| {
                let lists = idle.entry(self.id).or_default();
                let list = match lists.get_mut(addr) {
                    Some(list) => list,
                    None => {
                        let addr: Arc<str> = addr.into();
                        lists.entry(addr.clone()).or_insert(IdleList { addr, idle: Vec::new() })
                    }
                };
                (list.addr.clone(), list.idle.pop())
            })
        };
        let (key, mut found) = pop();
        while let Some(Idle { stream, buf, head, since }) = found {
            if since.elapsed() < IDLE_TIMEOUT && still_open(&stream) {
                return (key, Some((stream, buf, head)));
            }
            found = pop().1;
        }
        (key, None)
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

    fn checkin(&self, addr: &Arc<str>, stream: TcpStream, buf: BytesMut, head: Vec<u8>) {
        IDLE.with_borrow_mut(|idle| {
            let lists = idle.entry(self.id).or_default();
            let list = match lists.get_mut(&**addr) {
                Some(list) => list,
                None => lists.entry(addr.clone()).or_insert(IdleList { addr: addr.clone(), idle: Vec::new() }),
            };
            if list.idle.len() < MAX_IDLE_PER_INSTANCE {
                list.idle.push(Idle { stream, buf, head, since: Instant::now() });
            }
        });
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
        let (key, kept) = self.kept(addr);
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
            let n = read_buf(&mut stream, &mut buf).await.map_err(failed)?;
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
        Ok(Answer { head: parsed.into_answer_head(answer_head), body })
    }
}

/// An instance's answer: its head as the instance sent it (interim 1xx
/// answers left out), and its body.
pub struct Answer {
    pub head: AnswerHead,
    pub body: UpstreamBody,
}

pub struct AnswerHead {
    pub status: StatusCode,
    pub version: Version,
    bytes: Bytes,
    /// Where each header line's name and value are in `bytes`.
    lines: SmallVec<[Line; 16]>,
    /// Framed by chunks, so a `Content-Length` beside them means nothing.
    chunked: bool,
    /// It has a `Connection` header, which may name more hop-by-hop ones.
    connection: bool,
}

#[derive(Clone, Copy)]
struct Line {
    name: (u32, u32),
    value: (u32, u32),
    /// Where the line ends, past its CRLF, when it can be relayed as it
    /// arrived (`name:`, blanks, `value`, CRLF: no trailing blanks, no bare LF); else 0.
    end: u32,
}

impl AnswerHead {
    fn at(&self, (start, end): (u32, u32)) -> &[u8] {
        &self.bytes[start as usize..end as usize]
    }

    /// Every header line of the answer, in order, as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.lines.iter().map(|l| (self.at(l.name), self.at(l.value)))
    }

    /// The header lines a proxy passes on: not hop-by-hop (RFC 9110
    /// §7.6.1), and no length beside chunks.
    pub fn each_relayed_header(&self, mut f: impl FnMut(&[u8], &[u8])) {
        let hop = self.hop_by_hop();
        for (name, value) in self.headers() {
            if self.relays(&hop, name) {
                f(name, value);
            }
        }
    }

    /// Writes the header lines a proxy passes on, of those `keep` wants,
    /// to `out`. A line that stands as it arrived is copied as it is, and
    /// lines that follow each other so in one copy, instead of four small
    /// copies per line; only a line that ends in blanks or a bare LF is rewritten.
    pub fn write_relayed(&self, out: &mut Vec<u8>, mut keep: impl FnMut(&[u8]) -> bool) {
        let hop = self.hop_by_hop();
        let mut run: Option<(usize, usize)> = None;
        for line in &self.lines {
            let name = self.at(line.name);
            if !self.relays(&hop, name) || !keep(name) {
                continue;
            }
            let (start, end) = (line.name.0 as usize, line.end as usize);
            match run {
                Some((from, to)) if end != 0 && to == start => run = Some((from, end)),
                _ => {
                    if let Some((from, to)) = run.take() {
                        out.extend_from_slice(&self.bytes[from..to]);
                    }
                    if end != 0 {
                        run = Some((start, end));
                    } else {
                        header_line(out, name, self.at(line.value));
                    }
                }
            }
        }
        if let Some((from, to)) = run {
            out.extend_from_slice(&self.bytes[from..to]);
        }
    }

    fn hop_by_hop(&self) -> HopByHop<'_> {
        if self.connection { HopByHop::of(self.headers()) } else { HopByHop::standard() }
    }

    /// Whether a proxy passes header `name` on: not hop-by-hop (RFC 9110
    /// §7.6.1), and no length beside chunks.
    fn relays(&self, hop: &HopByHop<'_>, name: &[u8]) -> bool {
        let framing_noise = self.chunked && name.eq_ignore_ascii_case(b"content-length");
        !hop.drops(name) && !framing_noise
    }

    /// The headers as a map: all of them, or (`relayed`) those a proxy
    /// passes on. Values share the head's memory.
    pub fn header_map(&self, relayed: bool) -> io::Result<HeaderMap> {
        let mut map = HeaderMap::new();
        let mut bad = None;
        let mut add = |name: &[u8], value: &[u8]| match (
            HeaderName::from_bytes(name),
            HeaderValue::from_maybe_shared(self.bytes.slice_ref(value)),
        ) {
            (Ok(n), Ok(v)) => {
                map.append(n, v);
            }
            _ => bad = Some(String::from_utf8_lossy(name).into_owned()),
        };
        if relayed {
            self.each_relayed_header(&mut add)
        } else {
            self.headers().for_each(|(n, v)| add(n, v))
        }
        match bad {
            Some(name) => Err(invalid(format!("answer header {name:?} not representable"))),
            None => Ok(map),
        }
    }
}

impl Answer {
    /// As an `http` response with the headers a proxy passes on.
    pub fn into_response(self) -> io::Result<http::Response<UpstreamBody>> {
        let headers = self.head.header_map(true)?;
        let mut resp = http::Response::new(self.body);
        *resp.status_mut() = self.head.status;
        *resp.version_mut() = self.head.version;
        *resp.headers_mut() = headers;
        Ok(resp)
    }
}

/// Whether `name` is one of the hop-by-hop headers (RFC 9110 §7.6.1):
/// about one connection, never forwarded. Told apart by length first: this
/// runs for every header of every proxied message.
fn standard_hop_by_hop(name: &[u8]) -> bool {
    let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
    match name.len() {
        2 => is(b"te"),
        7 => is(b"trailer") || is(b"upgrade"),
        10 => is(b"connection") || is(b"keep-alive"),
        16 => is(b"proxy-connection"),
        17 => is(b"transfer-encoding"),
        18 => is(b"proxy-authenticate"),
        19 => is(b"proxy-authorization"),
        _ => false,
    }
}

/// Which headers of one message are about its connection only: the
/// standard hop-by-hop ones and those its `Connection` header names.
pub struct HopByHop<'a> {
    named: SmallVec<[&'a [u8]; 4]>,
}

impl<'a> HopByHop<'a> {
    pub fn of(headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> HopByHop<'a> {
        let mut named = SmallVec::new();
        for (name, value) in headers {
            if name.eq_ignore_ascii_case(b"connection") {
                named.extend(value.split(|&b| b == b',').map(trim).filter(|t| !t.is_empty()));
            }
        }
        HopByHop { named }
    }

    /// Only the standard ones: for a message without `Connection`.
    pub fn standard() -> HopByHop<'a> {
        HopByHop { named: SmallVec::new() }
    }

    pub fn drops(&self, name: &[u8]) -> bool {
        standard_hop_by_hop(name) || self.named.iter().any(|h| h.eq_ignore_ascii_case(name))
    }
}

/// Writes a request head for `method` and `path_and_query` with the header
/// lines `headers` gives (as they are: the caller removed hop-by-hop ones),
/// `Host` as `addr` when they have none, and the body's length.
pub fn request_head<'a>(
    out: &mut Vec<u8>,
    addr: &str,
    method: &Method,
    path_and_query: &[u8],
    headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    body_len: usize,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path_and_query);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut host = false;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case(b"content-length") {
            continue;
        }
        host |= name.eq_ignore_ascii_case(b"host");
        header_line(out, name, value);
    }
    if !host {
        header_line(out, b"host", addr.as_bytes());
    }
    // A body's length is what was buffered; methods that carry a body say
    // so even when it is empty (RFC 9110 §8.6).
    if body_len > 0 || matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        header_line(out, b"content-length", itoa::Buffer::new().format(body_len).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `name: value\r\n`.
pub fn header_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Whether a kept connection is still usable: not closed by the instance
/// and with no stray bytes waiting. While the runtime has seen no
/// readiness, `try_read` answers `WouldBlock` without a system call.
fn still_open(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

async fn read_buf(stream: &mut TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    tokio::io::AsyncReadExt::read_buf(stream, buf).await
}

/// Writes all of `bufs`, in as few system calls as the kernel allows.
pub(crate) async fn write_all_vectored(stream: &mut TcpStream, mut bufs: &mut [io::IoSlice<'_>]) -> io::Result<()> {
    while !bufs.is_empty() {
        let n = stream.write_vectored(bufs).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        io::IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}

/// What the head of an answer says.
struct ParsedHead {
    head_len: usize,
    lines: SmallVec<[Line; 16]>,
    status: StatusCode,
    version: Version,
    framing: Framing,
    keep_alive: bool,
    connection: bool,
}

impl ParsedHead {
    /// The head as the answer keeps it; `bytes` are the head's bytes.
    fn into_answer_head(self, bytes: Bytes) -> AnswerHead {
        AnswerHead {
            status: self.status,
            version: self.version,
            bytes,
            lines: self.lines,
            chunked: self.framing == Framing::Chunked,
            connection: self.connection,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
    Upgrade,
}

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// Once `buf` holds the whole head of the answer to `method`: how many
/// bytes of interim 1xx answers (`100 Continue`, `103 Early Hints`) come
/// first, and what the head after them says.
fn parse_answer(buf: &[u8], method: &Method) -> io::Result<Option<(usize, ParsedHead)>> {
    let mut start = 0;
    loop {
        let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let mut r = httparse::Response::new(&mut []);
        let head_len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut r,
            &buf[start..],
            &mut slots,
        ) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(invalid(format!("malformed answer head: {e}"))),
        };
        let code = r.code.expect("a complete head has a status");
        let status = StatusCode::from_u16(code).map_err(|_| invalid(format!("status {code} out of range")))?;
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            start += head_len;
            continue;
        }
        let version = if r.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 };
        let (mut length, mut chunked, mut close, mut keep_alive_token) = (None, false, false, false);
        let head_start = buf[start..].as_ptr() as usize;
        let at = |part: &[u8]| {
            let from = part.as_ptr() as usize - head_start;
            (from as u32, (from + part.len()) as u32)
        };
        let head = &buf[start..start + head_len];
        let mut lines = SmallVec::new();
        let mut connection = false;
        for h in r.headers.iter() {
            let name = h.name.as_bytes();
            let value = at(h.value);
            // httparse keeps a value's blanks out of it, and a line may end in a bare LF.
            let as_sent = value.0 > at(name).1 && head.get(value.1 as usize..value.1 as usize + 2) == Some(b"\r\n");
            let end = if as_sent { value.1 + 2 } else { 0 };
            lines.push(Line { name: at(name), value, end });
            if name.eq_ignore_ascii_case(b"content-length") {
                let n: u64 = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| invalid("bad content-length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(invalid("conflicting content-length headers"));
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = h
                    .value
                    .rsplit(|&b| b == b',')
                    .next()
                    .is_some_and(|last| trim(last).eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case(b"connection") {
                connection = true;
                for token in h.value.split(|&b| b == b',').map(trim) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
        }
        let keep_alive = !close && (version == Version::HTTP_11 || keep_alive_token);
        let framing = if status == StatusCode::SWITCHING_PROTOCOLS {
            Framing::Upgrade
        } else if *method == Method::HEAD || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            Framing::Empty
        } else if chunked {
            // RFC 9112 §6.3: transfer coding wins over a length.
            Framing::Chunked
        } else if let Some(n) = length {
            if n == 0 { Framing::Empty } else { Framing::Length(n) }
        } else {
            Framing::UntilClose
        };
        let keep_alive = keep_alive && framing != Framing::UntilClose;
        return Ok(Some((start, ParsedHead { head_len, lines, status, version, framing, keep_alive, connection })));
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &b[start..end]
}

/// A connection with the bytes read past what was consumed.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    head: Vec<u8>,
    addr: Arc<str>,
    keep_alive: bool,
    upstreams: Upstreams,
}

impl Conn {
    /// The answer was read to its end: keep the connection for the next
    /// request if both sides allow it and nothing unexpected follows.
    fn release(self) {
        if self.keep_alive && self.buf.is_empty() {
            self.upstreams.checkin(&self.addr, self.stream, self.buf, self.head);
        }
    }

    /// The next bytes of a body part with `remaining` bytes left, at most
    /// that many; an early end of the connection is an error.
    fn poll_part(&mut self, cx: &mut Context<'_>, remaining: &mut u64) -> Poll<io::Result<Bytes>> {
        if self.buf.is_empty() && ready!(self.poll_fill(cx))? == 0 {
            return Poll::Ready(Err(eof()));
        }
        let n = (*remaining).min(self.buf.len() as u64) as usize;
        *remaining -= n as u64;
        Poll::Ready(Ok(self.buf.split_to(n).freeze()))
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.buf.reserve(READ_CHUNK);
        tokio_util::io::poll_read_buf(Pin::new(&mut self.stream), cx, &mut self.buf)
    }
}

/// Where a chunked body is.
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

enum State {
    Done,
    Full(Option<Bytes>),
    Length { conn: Conn, remaining: u64 },
    Chunked { conn: Conn, chunk: Chunk },
    UntilClose(Conn),
    Upgraded(Option<Conn>),
}

/// An answer's body, streamed from the upstream connection; the connection
/// goes back to the idle list when the body was read to its end.
pub struct UpstreamBody {
    state: State,
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody").field("size_hint", &self.size_hint()).finish()
    }
}

/// A connection that switched protocols, with what the instance sent
/// after its `101` head.
pub struct Upgraded {
    pub stream: TcpStream,
    pub read_ahead: Bytes,
}

impl UpstreamBody {
    fn empty() -> UpstreamBody {
        UpstreamBody { state: State::Done }
    }

    /// After a `101 Switching Protocols`: the connection, for splicing.
    pub fn into_upgraded(self) -> Option<Upgraded> {
        match self.state {
            State::Upgraded(Some(conn)) => Some(Upgraded { stream: conn.stream, read_ahead: conn.buf.freeze() }),
            _ => None,
        }
    }

    /// The next frame; [`Body::poll_frame`] ends the body after an error.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        loop {
            match &mut self.state {
                State::Done | State::Upgraded(_) => return Poll::Ready(None),
                State::Full(body) => {
                    let body = body.take();
                    self.state = State::Done;
                    return Poll::Ready(body.map(|b| Ok(Frame::data(b))));
                }
                State::Length { conn, remaining } => {
                    let data = ready!(conn.poll_part(cx, remaining))?;
                    if *remaining == 0 {
                        finish(&mut self.state);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                State::UntilClose(conn) => {
                    if conn.buf.is_empty() && ready!(conn.poll_fill(cx))? == 0 {
                        self.state = State::Done;
                        return Poll::Ready(None);
                    }
                    let data = conn.buf.split().freeze();
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                State::Chunked { conn, chunk } => match chunk {
                    Chunk::Size => match httparse::parse_chunk_size(&conn.buf) {
                        Ok(httparse::Status::Complete((used, size))) => {
                            conn.buf.advance(used);
                            *chunk = if size == 0 { Chunk::Trailers } else { Chunk::Data(size) };
                        }
                        Ok(httparse::Status::Partial) => {
                            if conn.buf.len() > MAX_HEAD {
                                return Poll::Ready(Some(Err(invalid("chunk size line too long"))));
                            }
                            if ready!(conn.poll_fill(cx))? == 0 {
                                return Poll::Ready(Some(Err(eof())));
                            }
                        }
                        Err(_) => return Poll::Ready(Some(Err(invalid("malformed chunk size")))),
                    },
                    Chunk::Data(remaining) => {
                        let data = ready!(conn.poll_part(cx, remaining))?;
                        if *remaining == 0 {
                            *chunk = Chunk::DataEnd;
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    Chunk::DataEnd => {
                        if conn.buf.len() < 2 {
                            if ready!(conn.poll_fill(cx))? == 0 {
                                return Poll::Ready(Some(Err(eof())));
                            }
                            continue;
                        }
                        if &conn.buf[..2] != b"\r\n" {
                            return Poll::Ready(Some(Err(invalid("chunk not followed by CRLF"))));
                        }
                        conn.buf.advance(2);
                        *chunk = Chunk::Size;
                    }
                    // Trailer lines until an empty one; dropped.
                    Chunk::Trailers => match conn.buf.windows(2).position(|w| w == b"\r\n") {
                        Some(0) => {
                            conn.buf.advance(2);
                            finish(&mut self.state);
                            return Poll::Ready(None);
                        }
                        Some(end) => conn.buf.advance(end + 2),
                        None => {
                            if conn.buf.len() > MAX_HEAD {
                                return Poll::Ready(Some(Err(invalid("trailers too large"))));
                            }
                            if ready!(conn.poll_fill(cx))? == 0 {
                                return Poll::Ready(Some(Err(eof())));
                            }
                        }
                    },
                },
            }
        }
    }
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "upstream closed the connection in the middle of a body")
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let polled = self.poll_next(cx);
        if let Poll::Ready(Some(Err(_))) = polled {
            // Nothing more can be read after a broken body; the connection goes.
            self.state = State::Done;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done | State::Upgraded(_))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Done | State::Upgraded(_) => SizeHint::with_exact(0),
            State::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            State::Length { remaining, .. } => SizeHint::with_exact(*remaining),
            _ => SizeHint::default(),
        }
    }
}

/// The body ended: the connection goes back for reuse.
fn finish(state: &mut State) {
    match std::mem::replace(state, State::Done) {
        State::Length { conn, .. } | State::Chunked { conn, .. } => conn.release(),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;
    use http_body_util::BodyExt;
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
        IDLE.with_borrow(|idle| idle.get(&u.id).and_then(|l| l.get(addr)).map_or(0, |l| l.idle.len()))
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
        let head = parsed.into_answer_head(Bytes::copy_from_slice(&raw[..head_len]));
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
