//! The `gateway` component: the single public entry point speaking the
//! Mastodon client API.
//!
//! It authenticates requests (token → account and scopes, through `users`),
//! parses and validates input into domain types, calls the components
//! through their client traits, and aggregates their answers into Mastodon
//! entities (a home-timeline page is ids from `timelines`, hydrated from
//! `posts` and `users`). It owns no data.
//!
//! Layout: `params` (request parsing), `auth` (the token extractor and
//! scope checks), `render` (records → entities), `paging` (cursors and
//! `Link` headers), `routes/*` (one file per API group).
#![forbid(unsafe_code)]

mod auth;
mod edge;
mod errors;
mod html;
pub mod limits;
mod paging;
mod params;
pub mod proxy;
mod render;
mod routes;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use cache::SharedState;
use limits::RateLimiter;
use posts::PostsApi;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use timelines::TimelinesApi;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use users::UsersApi;

/// What the gateway needs to know about the instance it fronts.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Base URL clients reach this server at (`https://example.org`). When
    /// unset, it is taken from each request's `Host` header.
    pub public_url: Option<String>,
    pub title: String,
    pub description: String,
    pub contact_email: String,
    pub registrations_open: bool,
    pub max_characters: usize,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a token check is reused. A token revoked through
    /// `/oauth/revoke` stops working at once on every gateway; one revoked
    /// any other way stops within this time.
    pub auth_cache_ttl: std::time::Duration,
    /// Peers whose `X-Forwarded-For` is believed (the load-balancing front).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Time budget of a public request, unless its route has its own.
    pub request_timeout: Duration,
    /// Route pattern (`/api/v1/timelines/home`) → time budget in ms.
    pub route_timeouts: HashMap<String, u64>,
    /// Public requests handled at once; more are answered 503 at once.
    pub max_in_flight: usize,
    /// How long an answer waits for a part it can do without (the authors'
    /// post counters) before it is served without it.
    pub optional_timeout: Duration,
}

impl GatewaySettings {
    pub fn route_timeout(&self, route: &str) -> Duration {
        self.route_timeouts.get(route).map_or(self.request_timeout, |ms| Duration::from_millis(*ms))
    }
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            public_url: None,
            title: "Aviary".into(),
            description: "A microblogging server speaking the Mastodon client API.".into(),
            contact_email: String::new(),
            registrations_open: true,
            max_characters: model::PostText::MAX_CHARS,
            body_limit: 1024 * 1024,
            auth_cache_ttl: std::time::Duration::from_secs(10),
            trusted_proxies: Vec::new(),
            request_timeout: Duration::from_secs(10),
            route_timeouts: HashMap::new(),
            max_in_flight: 1024,
            optional_timeout: Duration::from_millis(300),
        }
    }
}

/// Cheap clonable handle shared by every handler.
#[derive(Clone)]
pub struct Gateway {
    pub users: Arc<dyn UsersApi>,
    pub posts: Arc<dyn PostsApi>,
    pub timelines: Arc<dyn TimelinesApi>,
    /// Shared between gateway instances (Redis in split mode): cached
    /// token checks.
    pub shared: Arc<dyn SharedState>,
    pub settings: Arc<GatewaySettings>,
    /// Counted in `shared`, so the limits hold across gateway instances.
    pub limits: Arc<RateLimiter>,
    /// Pass-through routes to upstream pools (served by [`proxy::PassThrough`]).
    pub proxies: Vec<Arc<proxy::ProxyRoute>>,
    /// Public requests in flight, shared by the router's limit and the
    /// pass-through path: `settings.max_in_flight` permits.
    pub in_flight: Arc<tokio::sync::Semaphore>,
}

/// The Mastodon version clients see; feature detection in client libraries
/// keys off it, so it names the API level Aviary implements.
pub const MASTODON_API_VERSION: &str = "4.3.0";

impl Gateway {
    pub fn router(self) -> Router {
        let limit = self.settings.body_limit;
        let in_flight = self.in_flight.clone();
        routes::router()
            .fallback(platform::error::fallback_not_found)
            .layer(axum::middleware::from_fn_with_state(self.clone(), edge::edge))
            .layer(DefaultBodyLimit::max(limit))
            .with_state(self)
            // One semaphore for all routes (`Router::layer` wraps each route,
            // so a per-layer limit would be per route).
            .layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(edge::overloaded))
                    .load_shed()
                    .layer(GlobalConcurrencyLimitLayer::with_semaphore(in_flight)),
            )
    }
}
