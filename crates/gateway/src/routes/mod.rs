//! The public routes, one module per API area. Each module owns its
//! routes ([`Routes`]); the router merges them, and the path prefixes the
//! gateway serves itself — which a pass-through route may not take — are
//! derived from their paths, not kept by hand.

mod accounts;
mod apps;
mod blocks;
mod conversations;
mod follow_requests;
mod instance;
mod markers;
mod marks;
mod notifications;
mod oauth;
mod polls;
mod preferences;
mod statuses;
mod tags;
mod timelines;

use crate::Gateway;
use axum::Router;
use axum::routing::MethodRouter;
use model::Id;
use platform::ApiError;

/// A module's routes and their paths.
#[derive(Default)]
pub(crate) struct Routes {
    router: Router<Gateway>,
    paths: Vec<&'static str>,
}

impl Routes {
    fn route(mut self, path: &'static str, handlers: MethodRouter<Gateway>) -> Self {
        self.router = self.router.route(path, handlers);
        self.paths.push(path);
        self
    }

    fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }
}

/// Every module's routes.
fn all() -> Routes {
    [
        apps::routes,
        oauth::routes,
        accounts::routes,
        statuses::routes,
        timelines::routes,
        instance::routes,
        preferences::routes,
        notifications::routes,
        marks::routes,
        follow_requests::routes,
        blocks::routes,
        tags::routes,
        conversations::routes,
        polls::routes,
        markers::routes,
    ]
    .into_iter()
    .fold(Routes::default(), |all, module| all.merge(module()))
}

pub fn router() -> Router<Gateway> {
    all().router
}

/// Paths every process serves beside its component routes.
const OPERATIONAL: &[&str] = &["/healthz", "/readyz", "/metrics", "/internal"];

/// The area a path belongs to: `/api/v1/accounts/{id}/follow` is under
/// `/api/v1/accounts`, `/oauth/token` under `/oauth`.
fn area(path: &'static str) -> &'static str {
    let versioned = path.starts_with("/api/v");
    let segments = if versioned { 3 } else { 1 };
    match path.match_indices('/').nth(segments) {
        Some((end, _)) => &path[..end],
        None => path,
    }
}

/// The path prefixes the gateway serves itself.
pub fn own_prefixes() -> Vec<&'static str> {
    let mut prefixes: Vec<&'static str> =
        all().paths.into_iter().map(area).chain(OPERATIONAL.iter().copied()).collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    prefixes
}

/// A path id: anything that is not an id names no record.
pub(crate) fn path_id(raw: &str) -> Result<Id, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_prefixes_are_the_areas_of_the_routes() {
        let own = own_prefixes();
        for expected in [
            "/api/v1/accounts",
            "/api/v1/statuses",
            "/api/v1/preferences",
            "/api/v2/instance",
            "/oauth",
            "/avatars",
            "/internal",
        ] {
            assert!(own.contains(&expected), "{expected} missing from {own:?}");
        }
        // Every route is under one of them.
        for path in all().paths {
            assert!(own.iter().any(|p| path.starts_with(p)), "{path} is under no own prefix");
        }
        assert!(!own.iter().any(|p| p.contains('{')), "{own:?}");
    }
}
