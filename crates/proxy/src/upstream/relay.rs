//! What goes back and forth as bytes: an answer's head relayed from the
//! bytes it arrived in (hop-by-hop headers left out), a request head
//! written from header lines, and vectored writes.

use super::body::UpstreamBody;
use super::parse::{Framing, Line, ParsedHead, invalid, trim};
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};
use smallvec::SmallVec;
use std::io;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

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

impl AnswerHead {
    /// The head as the answer keeps it; `bytes` are the head's bytes.
    pub(super) fn from_parsed(parsed: ParsedHead, bytes: Bytes) -> AnswerHead {
        AnswerHead {
            status: parsed.status,
            version: parsed.version,
            bytes,
            lines: parsed.lines,
            chunked: parsed.framing == Framing::Chunked,
            connection: parsed.connection,
        }
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

/// Writes all of `bufs`, in as few system calls as the kernel allows.
pub async fn write_all_vectored(stream: &mut TcpStream, mut bufs: &mut [io::IoSlice<'_>]) -> io::Result<()> {
    while !bufs.is_empty() {
        let n = stream.write_vectored(bufs).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        io::IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}
