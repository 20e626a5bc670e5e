//! Cross-origin access as Mastodon serves it (its `rack-cors` rules), so
//! browser clients on another origin (Elk, Phanpy, masto.js in a page) can
//! register, log in and call the API:
//!
//! * `/api/*`: any origin, the API's methods, any request header; `Link`,
//!   `X-RateLimit-*` and `X-Request-Id` readable by the page;
//! * `POST /oauth/token` and `POST /oauth/revoke`;
//! * `GET` on `/.well-known/*`, `/@:username`, `/users/*` and `/nodeinfo/*`.
//!
//! Nothing else: `/oauth/authorize` is a page a person uses, not one a
//! script on another origin may read, and internal and operational routes
//! are not for browsers at all. Credentials (cookies) are never allowed:
//! the API authenticates with bearer tokens.
//!
//! The rules wrap each route outside every other layer, so a preflight is
//! answered before the rate limits and the in-flight limit, and an error
//! answer (401, 404, 429) still carries the headers a page needs to read it.

use axum::body::Body;
use axum::http::{HeaderName, Method, Request, header};
use axum::response::Response;
use futures::future::BoxFuture;
use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Layer, Service};
use tower_http::cors::{AllowHeaders, Any, Cors, CorsLayer};

/// How long a browser may keep a preflight answer (rack-cors' default).
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(7200);

/// The rules, as a layer around each of the router's routes and its
/// fallback (so routing, and the route each request is counted under in
/// metrics, stay the router's).
#[derive(Clone)]
pub(crate) struct CorsRules {
    api: CorsLayer,
    token: CorsLayer,
    pages: CorsLayer,
}

impl CorsRules {
    pub(crate) fn new() -> CorsRules {
        let rules = |methods: &[Method]| {
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods(methods.to_vec())
                // "Any header": the browser's `Access-Control-Request-Headers`
                // are allowed back. A literal `*` would not cover
                // `Authorization`, which browsers never match by wildcard.
                .allow_headers(AllowHeaders::mirror_request())
                .max_age(PREFLIGHT_MAX_AGE)
        };
        let api = rules(&[Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::OPTIONS])
            .expose_headers([
                header::LINK,
                HeaderName::from_static("x-ratelimit-reset"),
                HeaderName::from_static("x-ratelimit-limit"),
                HeaderName::from_static("x-ratelimit-remaining"),
                platform::server::REQUEST_ID,
            ]);
        CorsRules { api, token: rules(&[Method::POST]), pages: rules(&[Method::GET]) }
    }
}

impl<S: Clone> Layer<S> for CorsRules {
    type Service = ByPath<S>;

    fn layer(&self, inner: S) -> ByPath<S> {
        ByPath {
            api: self.api.layer(inner.clone()),
            token: self.token.layer(inner.clone()),
            pages: self.pages.layer(inner.clone()),
            plain: inner,
        }
    }
}

/// Which rules a path falls under.
#[derive(Debug, PartialEq, Eq)]
enum Class {
    Api,
    Token,
    Pages,
    None,
}

fn class(path: &str) -> Class {
    if path.starts_with("/api/") {
        Class::Api
    } else if matches!(path, "/oauth/token" | "/oauth/revoke") {
        Class::Token
    } else if path.starts_with("/.well-known/")
        || path.starts_with("/users/")
        || path.starts_with("/nodeinfo/")
        || (path.starts_with("/@") && !path[2..].contains('/'))
    {
        Class::Pages
    } else {
        Class::None
    }
}

#[derive(Clone)]
pub(crate) struct ByPath<S> {
    api: Cors<S>,
    token: Cors<S>,
    pages: Cors<S>,
    plain: S,
}

impl<S> Service<Request<Body>> for ByPath<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Routes are always ready; each call below clones the one it uses.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        match class(req.uri().path()) {
            Class::Api => Box::pin(self.api.clone().call(req)),
            Class::Token => Box::pin(self.token.clone().call(req)),
            Class::Pages => Box::pin(self.pages.clone().call(req)),
            Class::None => Box::pin(self.plain.clone().call(req)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fall_under_mastodons_rules() {
        for (path, expected) in [
            ("/api/v1/timelines/home", Class::Api),
            ("/api/v2/instance", Class::Api),
            ("/oauth/token", Class::Token),
            ("/oauth/revoke", Class::Token),
            ("/oauth/authorize", Class::None),
            ("/oauth/tokenx", Class::None),
            ("/.well-known/oauth-authorization-server", Class::Pages),
            ("/@alice", Class::Pages),
            ("/@alice/123", Class::None),
            ("/internal/users/authenticate", Class::None),
            ("/metrics", Class::None),
            ("/api", Class::None),
        ] {
            assert_eq!(class(path), expected, "{path}");
        }
    }
}
