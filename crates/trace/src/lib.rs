//! W3C trace context (`traceparent`) carried through a request, across
//! internal calls and onto the events it causes, so one trace id ties a
//! post's HTTP request to its fan-out in another process.
//!
//! The current value lives in a task-local: the server's middleware
//! (`platform::server`) sets it for each incoming request with [`scope`] —
//! a child of the caller's `traceparent`, or a new trace — `rpc` forwards
//! it on internal calls, the outbox stamps it on events, and consumers
//! restore it around handlers with [`scope`]. This crate has no HTTP
//! dependency, so the store and the bus carry trace context without the
//! HTTP stack.
#![forbid(unsafe_code)]

use std::future::Future;

pub const HEADER: &str = "traceparent";

tokio::task_local! {
    static TRACEPARENT: String;
}

/// The trace context of the task, if one was set.
pub fn current() -> Option<String> {
    TRACEPARENT.try_with(|t| t.clone()).ok()
}

fn push_hex<const N: usize>(out: &mut String, bytes: &[u8; N]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // Digits into bytes, then one push: a push per character costs a
    // capacity check and a UTF-8 encoding each (this runs per request).
    let mut hex = [[0u8; 2]; N];
    for (pair, b) in hex.iter_mut().zip(bytes) {
        *pair = [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]];
    }
    out.push_str(std::str::from_utf8(hex.as_flattened()).expect("hex digits are ASCII"));
}

/// Random bytes for ids (trace, span and request ids) from a fast
/// per-thread generator seeded once from the thread's cryptographic one:
/// ids must not collide, they need not be unguessable, and this runs
/// several times for every request.
pub fn random_id<const N: usize>() -> [u8; N] {
    use rand::Rng as _;
    use std::cell::RefCell;
    thread_local! {
        static IDS: RefCell<rand::rngs::SmallRng> = RefCell::new(rand::make_rng());
    }
    let mut id = [0u8; N];
    IDS.with(|g| g.borrow_mut().fill_bytes(&mut id));
    id
}

/// `00-<trace id>-<new span id>-<flags>`, built in one string.
fn traceparent(trace_id: impl FnOnce(&mut String), flags: &str) -> String {
    let mut out = String::with_capacity(55);
    out.push_str("00-");
    trace_id(&mut out);
    out.push('-');
    push_hex(&mut out, &random_id::<8>());
    out.push('-');
    out.push_str(flags);
    out
}

/// A new trace: `00-<32 hex trace id>-<16 hex span id>-01`.
pub fn new_trace() -> String {
    let mut id = random_id::<16>();
    // All zeros is the invalid trace id.
    id[0] |= 1;
    traceparent(|out| push_hex(out, &id), "01")
}

/// A child span of `parent` (same trace id), or a new trace if `parent` is
/// not a valid `traceparent`.
pub fn child_of(parent: &str) -> String {
    let mut parts = parent.split('-');
    let (Some(version), Some(trace), Some(span), Some(flags), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return new_trace();
    };
    let valid = version.len() == 2
        && trace.len() == 32
        && span.len() == 16
        && flags.len() == 2
        && [version, trace, span, flags].iter().all(|p| p.bytes().all(|c| c.is_ascii_hexdigit()))
        && trace.bytes().any(|c| c != b'0');
    if !valid {
        return new_trace();
    }
    traceparent(
        |out| {
            let at = out.len();
            out.push_str(trace);
            out[at..].make_ascii_lowercase();
        },
        flags,
    )
}

/// The trace id part of a `traceparent`.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    traceparent.split('-').nth(1)
}

/// Runs `f` with `traceparent` (a child of it) as the current context.
pub async fn scope<F: Future>(traceparent: Option<&str>, f: F) -> F::Output {
    let tp = traceparent.map(child_of).unwrap_or_else(new_trace);
    TRACEPARENT.scope(tp, f).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn children_keep_the_trace_id_and_garbage_starts_a_new_trace() {
        let root = new_trace();
        assert_eq!(root.len(), 55);
        let child = child_of(&root);
        assert_eq!(trace_id(&child), trace_id(&root));
        assert_ne!(child, root);
        assert_ne!(trace_id(&child_of("garbage")), trace_id(&root));
        // W3C: lowercase hex; a parent's uppercase trace id is kept, lowercased.
        let shape = |tp: &str| tp.split('-').map(str::len).collect::<Vec<_>>() == [2, 32, 16, 2];
        assert!(shape(&root) && root.bytes().all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        let upper = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01";
        let child = child_of(upper);
        assert!(shape(&child), "{child}");
        assert_eq!(trace_id(&child), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(child.ends_with("-01") && !child.contains("00f067aa0ba902b7"), "{child}");
        let inside = scope(Some(&root), async { current() }).await.unwrap();
        assert_eq!(trace_id(&inside), trace_id(&root));
        assert!(current().is_none());
    }
}
