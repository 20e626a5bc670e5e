//! An answer's body, streamed from the upstream connection by its framing
//! (length, chunks, until close), the connection going back to the idle
//! list when the body was read to its end; and the connection of an
//! answer that switched protocols.

use super::parse::invalid;
use super::{MAX_HEAD, READ_CHUNK, Upstreams};
use bytes::{Buf, Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::net::TcpStream;

/// A connection with the bytes read past what was consumed.
pub(super) struct Conn {
    pub(super) stream: TcpStream,
    pub(super) buf: BytesMut,
    pub(super) head: Vec<u8>,
    pub(super) addr: Arc<str>,
    pub(super) keep_alive: bool,
    pub(super) upstreams: Upstreams,
}

impl Conn {
    /// The answer was read to its end: keep the connection for the next
    /// request if both sides allow it and nothing unexpected follows.
    pub(super) fn release(self) {
        if self.keep_alive && self.buf.is_empty() {
            super::pool::checkin(self.upstreams.id, &self.addr, self.stream, self.buf, self.head);
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
pub(super) enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

pub(super) enum State {
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
    pub(super) state: State,
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
    pub(super) fn empty() -> UpstreamBody {
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
