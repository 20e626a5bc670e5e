//! What happens to every public request before its handler: the client's
//! address, the token check (done once and handed to the extractors),
//! rate limits with Mastodon's `X-RateLimit-*` headers, and the route's
//! time budget.

use crate::Gateway;
use crate::auth::{self, Verified};
use crate::limits::{Limit, Verdict};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use platform::ApiError;
use smallvec::SmallVec;
use std::net::{IpAddr, SocketAddr};

pub use platform::conn::client_ip;

/// What the edge looks at in a request, from hyper's parts or from the
/// server's fast path.
pub(crate) struct Asking<'a> {
    pub method: &'a Method,
    pub query: Option<&'a str>,
    pub authorization: Option<&'a [u8]>,
    /// The `X-Forwarded-For` values, in order.
    pub forwarded_for: SmallVec<[&'a [u8]; 2]>,
}

impl<'a> Asking<'a> {
    pub fn of(parts: &'a axum::http::request::Parts) -> Asking<'a> {
        Asking {
            method: &parts.method,
            query: parts.uri.query(),
            authorization: parts.headers.get(AUTHORIZATION).map(|v| v.as_bytes()),
            forwarded_for: parts.headers.get_all(X_FORWARDED_FOR).iter().map(|v| v.as_bytes()).collect(),
        }
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Names the parts a response had to leave out (see `render`).
pub const DEGRADED_HEADER: &str = "x-aviary-degraded";

/// The stricter bucket a route belongs to, if any.
fn special_bucket(gw: &Gateway, method: &Method, path: &str) -> Option<(&'static str, Limit, bool)> {
    let s = &gw.limits.settings;
    // (bucket, limit, keyed by IP rather than account)
    match (method, path) {
        (&Method::POST, "/api/v1/accounts") => Some(("sign_up", s.sign_up, true)),
        (&Method::POST, "/api/v1/media" | "/api/v2/media") => Some(("media", s.media, false)),
        (&Method::DELETE, "/api/v1/statuses/{id}") => Some(("delete", s.delete, false)),
        _ => None,
    }
}

pub(crate) fn rate_headers(answer: &mut impl SetHeader, v: &Verdict) {
    let pairs = [
        (X_RATELIMIT_LIMIT, v.limit.to_string()),
        (X_RATELIMIT_REMAINING, v.remaining.to_string()),
        (X_RATELIMIT_RESET, model::time_fmt::rfc3339_millis(v.reset_ms)),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            answer.set_header(name, value);
        }
    }
}

const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Where a header is set: a response's map, or an answer the fast path writes.
pub(crate) trait SetHeader {
    fn set_header(&mut self, name: HeaderName, value: HeaderValue);
}

impl SetHeader for HeaderMap {
    fn set_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.insert(name, value);
    }
}

impl SetHeader for proxy::front::Answer {
    fn set_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.insert_header(name, value);
    }
}

/// What the edge settled before the handler: who is asking, and the
/// rate-limit state to show on the response.
pub(crate) struct Admitted {
    pub verified: Verified,
    pub shown: Option<Verdict>,
}

/// Identity and rate limits for a request to `route` from `peer`; `Err` is
/// the answer when the request may not go on (429, or 503 when `users`
/// cannot check the token).
pub(crate) async fn admit(
    gw: &Gateway,
    asking: &Asking<'_>,
    peer: Option<IpAddr>,
    route: &str,
) -> Result<Admitted, Response> {
    let verified = match auth::bearer_in(asking.authorization, asking.query) {
        Ok(Some(token)) => match auth::resolve(gw, &token).await {
            Ok(info) => Verified::Valid(info),
            Err(e) if e.status == StatusCode::UNAUTHORIZED => Verified::Invalid,
            Err(e) => return Err(e.into_response()),
        },
        Ok(None) => Verified::Anonymous,
        Err(_) => Verified::Invalid,
    };
    let account = match &verified {
        Verified::Valid(info) => info.account_id,
        _ => None,
    };
    let mut shown: Option<Verdict> = None;
    if gw.limits.settings.enabled {
        let ip = client_ip(peer, &asking.forwarded_for, &gw.settings.http.trusted_proxies);
        let ip_key = ip.map(|i| i.to_string()).unwrap_or_else(|| "unknown".into());
        let s = &gw.limits.settings;
        let mut checks: Vec<(&str, String, Limit)> = Vec::with_capacity(2);
        match account {
            Some(id) => checks.push(("account", id.to_string(), s.per_account)),
            None => checks.push(("ip", ip_key.clone(), s.per_ip)),
        }
        if let Some((bucket, limit, by_ip)) = special_bucket(gw, asking.method, route) {
            let who = match (by_ip, account) {
                (false, Some(id)) => id.to_string(),
                _ => ip_key.clone(),
            };
            checks.push((bucket, who, limit));
        }
        for (bucket, who, limit) in checks {
            match gw.limits.hit(bucket, &who, limit).await {
                Ok(v) if !v.allowed => {
                    let wait = ((v.reset_ms - gw.limits.now_ms()).max(0) as u64).div_ceil(1000);
                    let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
                    e.retry_after = Some(wait.max(1));
                    let mut resp = e.into_response();
                    rate_headers(resp.headers_mut(), &v);
                    return Err(resp);
                }
                Ok(v) => {
                    if shown.as_ref().is_none_or(|s| v.remaining < s.remaining) {
                        shown = Some(v);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, bucket, "rate-limit counters unavailable; letting the request through");
                }
            }
        }
    }
    Ok(Admitted { verified, shown })
}

/// Identity, then limits, then the handler under the route's timeout.
pub async fn edge(State(gw): State<Gateway>, req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let route = route.unwrap_or_else(|| req.uri().path().to_string());
    let (parts, body) = req.into_parts();
    let version = parts.version;
    let Admitted { verified, shown } = match admit(&gw, &Asking::of(&parts), peer, &route).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let ip = client_ip(peer, &Asking::of(&parts).forwarded_for, &gw.settings.http.trusted_proxies);
    let mut req = Request::from_parts(parts, body);
    // The token was checked once; the extractors use the result.
    req.extensions_mut().insert(verified);
    req.extensions_mut().insert(crate::logins::ClientIp(ip));

    let answer = crate::render::collect_degraded(next.run(req));
    let outcome = match gw.settings.http.route_timeout(&route) {
        Some(budget) => tokio::time::timeout(budget, answer).await.map_err(|_| budget),
        // Exempt (streaming, long-lived): no budget.
        None => Ok(answer.await),
    };
    let mut resp = match outcome {
        Ok((mut resp, degraded)) => {
            if !degraded.is_empty()
                && let Ok(v) = HeaderValue::from_str(&degraded.join(", "))
            {
                resp.headers_mut().insert(DEGRADED_HEADER, v);
            }
            resp
        }
        Err(budget) => proxy::forward::too_slow(&route, budget),
    };
    if let Some(v) = shown {
        rate_headers(resp.headers_mut(), &v);
    }
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE {
        body_left_unread(&mut resp, version);
    }
    resp
}

/// Reads a request's body (up to its route's limit) before it takes an in-flight permit, so clients
/// that stall their uploads hold connections (capped per address) but not
/// the permits every other request needs. A declared length over the limit
/// is refused with 413 at once; what arrives is kept as it came and joined
/// once whole into a buffer of exactly its size (never grown past the
/// limit); a body slower than the listener's
/// minimum rate is answered 408.
pub async fn read_body_first(State(gw): State<Gateway>, req: Request, next: Next) -> Response {
    use http_body_util::BodyExt as _;
    let version = req.version();
    // This wraps each route, so the router has named it already.
    let limit = match req.extensions().get::<MatchedPath>() {
        Some(route) => gw.settings.http.body_limit(route.as_str()),
        None => gw.settings.http.body_limit_bytes,
    };
    let too_large = || {
        let mut resp = ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large").into_response();
        body_left_unread(&mut resp, version);
        resp
    };
    let declared = req.headers().get(axum::http::header::CONTENT_LENGTH).map(|v| {
        std::str::from_utf8(v.as_bytes())
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<usize>().ok())
    });
    let declared = match declared {
        Some(Some(n)) if n > limit => return too_large(),
        Some(Some(n)) => Some(n),
        // hyper refuses a malformed length before this runs.
        Some(None) | None => None,
    };
    let (parts, mut body) = req.into_parts();
    // The chunks as they came (no copy while the body trickles in), joined
    // once it is whole into one buffer of exactly its size.
    let mut chunks: Vec<bytes::Bytes> = Vec::new();
    let mut received = 0usize;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    received += data.len();
                    if received > limit || declared.is_some_and(|d| received > d) {
                        return too_large();
                    }
                    chunks.push(data);
                }
            }
            Err(e) => {
                let mut resp = if e.into_inner().downcast_ref::<platform::conn::BodyTooSlow>().is_some() {
                    ApiError::new(StatusCode::REQUEST_TIMEOUT, "The request body arrived too slowly").into_response()
                } else {
                    ApiError::bad_request("The request body could not be read").into_response()
                };
                body_left_unread(&mut resp, version);
                return resp;
            }
        }
    }
    let whole = match chunks.len() {
        0 => bytes::Bytes::new(),
        1 => chunks.pop().expect("one chunk"),
        _ => {
            let mut buf = bytes::BytesMut::with_capacity(received);
            for chunk in chunks {
                buf.extend_from_slice(&chunk);
            }
            buf.freeze()
        }
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(whole))).await
}

/// For an answer sent before the request body was read to its end: that
/// connection cannot carry another request. Without saying so, an HTTP/1
/// client that pools connections reuses it, and its next request races the
/// close and fails. (HTTP/2 resets only the stream.)
pub(crate) fn body_left_unread(resp: &mut Response, version: axum::http::Version) {
    if version < axum::http::Version::HTTP_2 {
        resp.headers_mut().insert(axum::http::header::CONNECTION, HeaderValue::from_static("close"));
    }
}

/// Answer for a request shed because the gateway is at its concurrency
/// limit: 503 at once, with a hint when to come back, instead of a queue
/// that grows until every client times out.
pub async fn overloaded(_: tower::BoxError) -> Response {
    shed()
}

pub(crate) fn shed() -> Response {
    let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "The server is overloaded; try again shortly");
    e.retry_after = Some(1);
    e.into_response()
}
