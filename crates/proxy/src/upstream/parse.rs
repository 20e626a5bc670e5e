//! Parsing an upstream's answer head (httparse, hyper's parser): where
//! its header lines are, its status and version, how its body is framed
//! and whether the connection stays open.

use super::MAX_HEADERS;
use http::{Method, StatusCode, Version};
use smallvec::SmallVec;
use std::io;
use std::mem::MaybeUninit;

#[derive(Clone, Copy)]
pub(super) struct Line {
    pub(super) name: (u32, u32),
    pub(super) value: (u32, u32),
    /// Where the line ends, past its CRLF, when it can be relayed as it
    /// arrived (`name:`, blanks, `value`, CRLF: no trailing blanks, no bare LF); else 0.
    pub(super) end: u32,
}

/// What the head of an answer says.
pub(super) struct ParsedHead {
    pub(super) head_len: usize,
    pub(super) lines: SmallVec<[Line; 16]>,
    pub(super) status: StatusCode,
    pub(super) version: Version,
    pub(super) framing: Framing,
    pub(super) keep_alive: bool,
    pub(super) connection: bool,
}

#[derive(Debug, PartialEq)]
pub(super) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
    Upgrade,
}

pub(super) fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// Once `buf` holds the whole head of the answer to `method`: how many
/// bytes of interim 1xx answers (`100 Continue`, `103 Early Hints`) come
/// first, and what the head after them says.
pub(super) fn parse_answer(buf: &[u8], method: &Method) -> io::Result<Option<(usize, ParsedHead)>> {
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

pub(super) fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &b[start..end]
}
