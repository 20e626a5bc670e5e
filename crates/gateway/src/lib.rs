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
//! scope checks), `visibility` (who may see what), `render` (records →
//! entities), `paging` (cursors and `Link` headers), `routes/*` (one file
//! per API group, each owning its routes), `errors` (error kinds →
//! statuses), `edge` (client address, token, rate limits, budgets),
//! `proxy` (pass-through routes), `component` (the descriptor).
#![forbid(unsafe_code)]

mod auth;
mod component;
mod cors;
mod edge;
mod errors;
mod html;
pub mod limits;
mod logins;
mod paging;
mod params;
pub mod proxy;
mod render;
mod routes;
mod settings;
mod visibility;

pub use component::{COMPONENT, GatewayComponent};
pub use settings::{GatewaySettings, HttpSettings, InstanceSettings, PollLimits};

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use cache::SharedState;
use limits::RateLimiter;
use posts::PostsApi;
use std::sync::Arc;
use timelines::TimelinesApi;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use users::UsersApi;

/// The handle every handler gets: one reference-counted pointer, so the
/// per-request clones axum makes (each extractor takes the state) are one
/// atomic increment, not one per part (they were a tenth of a home read's
/// CPU, the parts' counters bouncing between cores).
#[derive(Clone)]
pub struct Gateway(Arc<GatewayParts>);

impl Gateway {
    pub fn new(parts: GatewayParts) -> Self {
        Gateway(Arc::new(parts))
    }
}

impl std::ops::Deref for Gateway {
    type Target = GatewayParts;
    fn deref(&self) -> &GatewayParts {
        &self.0
    }
}

/// What the gateway is made of.
pub struct GatewayParts {
    pub users: Arc<dyn UsersApi>,
    pub posts: Arc<dyn PostsApi>,
    pub timelines: Arc<dyn TimelinesApi>,
    pub notifications: Arc<dyn notifications::NotificationsApi>,
    /// Shared between gateway instances (Redis in split mode): cached
    /// token checks.
    pub shared: Arc<dyn SharedState>,
    pub settings: Arc<GatewaySettings>,
    /// Counted in `shared`, so the limits hold across gateway instances.
    pub limits: Arc<RateLimiter>,
    /// Pass-through routes to upstream pools (served by `proxy::PassThrough`
    /// with this gateway as its hooks).
    pub proxies: Vec<Arc<::proxy::ProxyRoute>>,
    /// Public requests in flight, shared by the router's limit and the
    /// pass-through path: `settings.http.max_in_flight` permits.
    pub in_flight: Arc<tokio::sync::Semaphore>,
}

/// The Mastodon version clients see; feature detection in client libraries
/// keys off it, so it names the API level Aviary implements.
pub const MASTODON_API_VERSION: &str = "4.3.0";

impl Gateway {
    pub fn router(self) -> Router {
        // Each route's own limit is held by `edge::read_body_first`.
        let limit = self.settings.http.largest_body_limit();
        let in_flight = self.in_flight.clone();
        routes::router()
            // A known path asked with a method it does not take: 405 with
            // `Allow` (kept by the router), in Mastodon's error shape.
            .method_not_allowed_fallback(method_not_allowed)
            .fallback(platform::error::fallback_not_found)
            .layer(axum::middleware::from_fn_with_state(self.clone(), edge::edge))
            .layer(DefaultBodyLimit::max(limit))
            .with_state(self.clone())
            // One semaphore for all routes (`Router::layer` wraps each route,
            // so a per-layer limit would be per route).
            .layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(edge::overloaded))
                    .load_shed()
                    .layer(GlobalConcurrencyLimitLayer::with_semaphore(in_flight)),
            )
            // Outside the in-flight limit: a body is read before its
            // request takes a permit.
            .layer(axum::middleware::from_fn_with_state(self, edge::read_body_first))
            .layer(cors::CorsRules::new())
    }
}

async fn method_not_allowed() -> platform::ApiError {
    platform::ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}
