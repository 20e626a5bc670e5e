//! Forwarding one request to its route's upstream pool: the request head
//! as it goes upstream (hop-by-hop headers dropped, request id, trace
//! context and `X-Forwarded-For` set), the attempts within the route's
//! budget, and the splice of an upgraded connection.

use crate::front::{Answer, Incoming};
use crate::route::ProxyRoute;
use crate::upstream::{HopByHop, SendError, Upgraded};
use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use platform::ApiError;
use pool::{AttemptError, ExecuteError};
use smallvec::SmallVec;
use std::convert::Infallible;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// What forwarding needs of a request, from hyper's parts or from the
/// fast path (`crate::front`), whose heads are forwarded from
/// the bytes they arrived in.
pub trait Asked: Sync {
    fn method(&self) -> &Method;
    fn version(&self) -> Version;
    /// Path and query, as sent.
    fn target(&self) -> &[u8];
    fn query(&self) -> Option<&str>;
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Send;
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers().find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| v)
    }
    /// One of this request's header values, as a value of the answer.
    fn value_of(&self, value: &[u8]) -> Option<HeaderValue>;
    /// The request as hyper parsed it, when it came that way (lets the
    /// application read its header map instead of scanning lines).
    fn parts(&self) -> Option<&http::request::Parts> {
        None
    }
}

impl Asked for http::request::Parts {
    fn method(&self) -> &Method {
        &self.method
    }
    fn version(&self) -> Version {
        self.version
    }
    fn target(&self) -> &[u8] {
        self.uri.path_and_query().map_or("/", |p| p.as_str()).as_bytes()
    }
    fn query(&self) -> Option<&str> {
        self.uri.query()
    }
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Send {
        self.headers.iter().map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
    }
    fn value_of(&self, value: &[u8]) -> Option<HeaderValue> {
        HeaderValue::from_bytes(value).ok()
    }
    fn parts(&self) -> Option<&http::request::Parts> {
        Some(self)
    }
}

impl Asked for Incoming {
    fn method(&self) -> &Method {
        &self.method
    }
    fn version(&self) -> Version {
        self.version
    }
    fn target(&self) -> &[u8] {
        Incoming::target(self)
    }
    fn query(&self) -> Option<&str> {
        Incoming::query(self)
    }
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Send {
        Incoming::headers(self)
    }
    fn value_of(&self, value: &[u8]) -> Option<HeaderValue> {
        self.shared_value(value)
    }
}

/// What the proxy adds to a forwarded request.
pub(crate) struct Added<'a> {
    pub(crate) request_id: &'a [u8],
    pub(crate) traceparent: &'a [u8],
    pub(crate) peer: Option<IpAddr>,
    /// Whether the peer is a trusted proxy: only then do the forwarding
    /// headers it sent (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`) go on.
    pub(crate) peer_trusted: bool,
    /// An upgrade asked for (WebSocket): `Upgrade` goes on, not as hop-by-hop.
    pub(crate) upgrading: bool,
}

/// Headers that say where a request came from: believed (and passed on)
/// only from a trusted proxy, since any client can send them.
fn is_forwarding(name: &[u8]) -> bool {
    const NAMES: [&[u8]; 6] = [
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"forwarded",
        b"x-real-ip",
    ];
    NAMES.iter().any(|n| name.eq_ignore_ascii_case(n))
}

/// Writes the head of `req` as it goes upstream: hop-by-hop headers
/// dropped (RFC 9110 §7.6.1), names with `_` dropped (an upstream that
/// reads them as `-` would see a header the proxy never checked, as nginx
/// and Apache refuse them), the client's forwarding headers dropped unless
/// it is a trusted proxy, then the request id, trace context and
/// `X-Forwarded-For` the proxy sets.
fn upstream_head(out: &mut Vec<u8>, addr: &str, req: &impl Asked, added: &Added<'_>, body_len: usize) {
    let is = |name: &[u8], n: &[u8]| name.eq_ignore_ascii_case(n);
    let hop = HopByHop::of(req.headers());
    // The chain of addresses the request came through, this peer last;
    // what came before it only when the peer is a proxy we trust.
    let mut chain: SmallVec<[u8; 64]> = SmallVec::new();
    for (_, v) in req.headers().filter(|(n, _)| added.peer_trusted && is(n, b"x-forwarded-for")) {
        chain.extend_from_slice(v);
        chain.extend_from_slice(b", ");
    }
    if let Some(ip) = added.peer {
        write_ip(&mut chain, ip);
    } else if chain.len() >= 2 {
        chain.truncate(chain.len() - 2);
    }
    let upgrade = added.upgrading && req.header("upgrade").is_some();
    let kept = req.headers().filter(|(n, _)| {
        !(hop.drops(n) && !(upgrade && is(n, b"upgrade")))
            && !is(n, b"x-request-id")
            && !is(n, b"traceparent")
            && !is(n, b"x-forwarded-for")
            && !n.contains(&b'_')
            && (added.peer_trusted || !is_forwarding(n))
    });
    let set = [
        (&b"x-request-id"[..], added.request_id),
        (b"traceparent", added.traceparent),
        (b"x-forwarded-for", &chain[..]),
        (b"connection", b"upgrade"),
    ];
    let set = set.into_iter().filter(|(n, v)| !v.is_empty() && (upgrade || *n != b"connection"));
    crate::upstream::request_head(out, addr, req.method(), req.target(), kept.chain(set), body_len);
}

/// An address as `X-Forwarded-For` has it, without the formatting machinery
/// (this runs for every proxied request).
fn write_ip(out: &mut SmallVec<[u8; 64]>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            // Digits into a buffer, then one append: by callgrind, an append
            // per octet cost ~440 instructions per request, this ~170.
            let (mut text, mut n) = ([0u8; 15], 0);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text[n] = b'.';
                    n += 1;
                }
                if octet >= 100 {
                    text[n] = b'0' + octet / 100;
                    n += 1;
                }
                if octet >= 10 {
                    text[n] = b'0' + octet / 10 % 10;
                    n += 1;
                }
                text[n] = b'0' + octet % 10;
                n += 1;
            }
            out.extend_from_slice(&text[..n]);
        }
        IpAddr::V6(v6) => {
            use std::io::Write as _;
            let mut text = Vec::with_capacity(40);
            let _ = write!(text, "{v6}");
            out.extend_from_slice(&text);
        }
    }
}

/// A pass-through request's body: read already (the server's fast path
/// reads it with the head), or still to read, with the client's side of an
/// upgrade when it asks for one.
pub enum RequestBody {
    Read(Bytes),
    Unread(Body, Option<hyper::upgrade::OnUpgrade>),
}

/// The time a request has: its route's budget, counted from `started`.
#[derive(Clone, Copy)]
pub(crate) struct Budget {
    pub(crate) started: Instant,
    pub(crate) budget: Duration,
}

/// Forwards one request to `route`'s upstream pool, every attempt within
/// the route's budget.
pub(crate) async fn forward(
    route: &ProxyRoute,
    req: &impl Asked,
    body: RequestBody,
    added: Added<'_>,
    time: Budget,
) -> Answer {
    let (body, client_side) = match body {
        RequestBody::Read(bytes) => (bytes, None),
        RequestBody::Unread(body, upgrade) => match axum::body::to_bytes(body, route.body_limit).await {
            Ok(bytes) => (bytes, upgrade),
            Err(_) => {
                let mut resp = ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large").into_response();
                body_left_unread(&mut resp, req.version());
                return Answer::Made(resp);
            }
        },
    };
    let added = Added { upgrading: client_side.is_some(), ..added };
    let method = req.method();
    let idempotent =
        matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) && body.is_empty() && !added.upgrading;
    let body_len = body.len();
    let outcome = route
        .pool
        .execute_within(Some(time.budget), None, idempotent, |backend| {
            let (body, added) = (body.clone(), &added);
            async move {
                let head = |out: &mut Vec<u8>| upstream_head(out, &backend.addr, req, added, body_len);
                match route.upstreams.send(&backend.addr, method, head, body).await {
                    Ok(a) if matches!(a.head.status.as_u16(), 502..=504) => {
                        Err(AttemptError::<Infallible>::Failed(format!("{} answered {}", backend.addr, a.head.status)))
                    }
                    Ok(a) => Ok(a),
                    Err(e @ SendError::NotSent(..)) => Err(AttemptError::NotSent(e.to_string())),
                    Err(e) => Err(AttemptError::Failed(e.to_string())),
                }
            }
        })
        .await;
    let answer = match outcome {
        Ok(a) => a,
        Err(ExecuteError::Answer(never)) => match never {},
        Err(ExecuteError::Unavailable(_)) if time.started.elapsed() >= time.budget => {
            return Answer::Made(too_slow(&route.pattern, time.budget));
        }
        Err(ExecuteError::Unavailable(m)) => {
            tracing::warn!(prefix = %route.prefix, reason = %m, "pass-through upstream unavailable");
            return Answer::Made(
                ApiError::unavailable(format!("upstream for {} unavailable", route.prefix)).into_response(),
            );
        }
    };
    if answer.head.status == StatusCode::SWITCHING_PROTOCOLS {
        // The instance's `Upgrade` and `Connection` go to the client as they are.
        let headers = answer.head.header_map(false).unwrap_or_default();
        if let (Some(client_side), Some(upstream_side)) = (client_side, answer.body.into_upgraded()) {
            tokio::spawn(splice(client_side, upstream_side));
        }
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *resp.headers_mut() = headers;
        return Answer::Made(resp);
    }
    Answer::relayed(answer)
}

/// Joins the client's upgraded connection to the instance's, first handing
/// on what the instance sent right after its `101`.
async fn splice(client_side: hyper::upgrade::OnUpgrade, upstream: Upgraded) {
    let client = match client_side.await {
        Ok(c) => c,
        Err(e) => return tracing::debug!(error = %e, "client upgrade not completed"),
    };
    let (mut client, mut upstream_stream) = (TokioIo::new(client), upstream.stream);
    if !upstream.read_ahead.is_empty() && client.write_all(&upstream.read_ahead).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream_stream).await;
}

/// A request answered before its body was read: the connection closes
/// after the answer (HTTP/1), since the unread body would be read as the
/// next request.
pub(crate) fn body_left_unread(resp: &mut Response, version: Version) {
    if version < Version::HTTP_2 {
        resp.headers_mut().insert(axum::http::header::CONNECTION, HeaderValue::from_static("close"));
    }
}

/// The answer when a request used up its route's time budget: 504, with
/// a hint when to come back.
pub fn too_slow(route: &str, budget: Duration) -> Response {
    tracing::warn!(route = %route, ?budget, "request exceeded its route timeout");
    let mut e = ApiError::new(StatusCode::GATEWAY_TIMEOUT, "The server took too long to answer; try again");
    e.retry_after = Some(1);
    e.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_forwarded_for_has_them() {
        for ip in ["0.0.0.0", "127.0.0.1", "10.20.100.9", "203.0.113.5", "255.255.255.255", "::1", "2001:db8::5"] {
            let mut out = SmallVec::new();
            write_ip(&mut out, ip.parse().unwrap());
            assert_eq!(std::str::from_utf8(&out).unwrap(), ip);
        }
    }
}
