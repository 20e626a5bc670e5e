//! Kept connections to upstream instances: per thread (a connection
//! belongs to the reactor of the runtime that opened it), per `Upstreams`
//! and address, newest last, for [`super::IDLE_TIMEOUT`].

use super::{IDLE_TIMEOUT, MAX_IDLE_PER_INSTANCE};
use bytes::BytesMut;
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;

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

/// The address as the idle lists of `upstreams` key it (shared by the
/// connections to it instead of copied for each request), and a kept
/// connection to it that is still open, with its buffers.
#[allow(clippy::type_complexity)]
pub(super) fn kept(upstreams: u64, addr: &str) -> (Arc<str>, Option<(TcpStream, BytesMut, Vec<u8>)>) {
    let pop = || {
        IDLE.with_borrow_mut(|idle| {
            let lists = idle.entry(upstreams).or_default();
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

/// Keeps a connection whose answer was read to its end.
pub(super) fn checkin(upstreams: u64, addr: &Arc<str>, stream: TcpStream, buf: BytesMut, head: Vec<u8>) {
    IDLE.with_borrow_mut(|idle| {
        let lists = idle.entry(upstreams).or_default();
        let list = match lists.get_mut(&**addr) {
            Some(list) => list,
            None => lists.entry(addr.clone()).or_insert(IdleList { addr: addr.clone(), idle: Vec::new() }),
        };
        if list.idle.len() < MAX_IDLE_PER_INSTANCE {
            list.idle.push(Idle { stream, buf, head, since: Instant::now() });
        }
    });
}

/// Whether a kept connection is still usable: not closed by the instance
/// and with no stray bytes waiting. While the runtime has seen no
/// readiness, `try_read` answers `WouldBlock` without a system call.
fn still_open(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Kept connections of `upstreams` to `addr` on this thread.
#[cfg(test)]
pub(super) fn idle_count(upstreams: u64, addr: &str) -> usize {
    IDLE.with_borrow(|idle| idle.get(&upstreams).and_then(|l| l.get(addr)).map_or(0, |l| l.idle.len()))
}
