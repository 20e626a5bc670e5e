//! The public routes, grouped one file per API area.

mod accounts;
mod apps;
mod instance;
mod oauth;
mod statuses;
mod timelines;

use crate::Gateway;
use axum::Router;
use axum::routing::{get, post};
use model::Id;
use platform::ApiError;

pub fn router() -> Router<Gateway> {
    Router::new()
        .route("/api/v1/apps", post(apps::create))
        .route("/api/v1/apps/verify_credentials", get(apps::verify_credentials))
        .route("/oauth/authorize", get(oauth::authorize_page).post(oauth::authorize))
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/api/v1/accounts", post(accounts::sign_up))
        .route("/api/v1/accounts/verify_credentials", get(accounts::verify_credentials))
        .route("/api/v1/accounts/update_credentials", axum::routing::patch(accounts::update_credentials))
        .route("/api/v1/accounts/lookup", get(accounts::lookup))
        .route("/api/v1/accounts/relationships", get(accounts::relationships))
        .route("/api/v1/accounts/{id}", get(accounts::show))
        .route("/api/v1/accounts/{id}/statuses", get(accounts::statuses))
        .route("/api/v1/accounts/{id}/follow", post(accounts::follow))
        .route("/api/v1/accounts/{id}/unfollow", post(accounts::unfollow))
        .route("/api/v1/accounts/{id}/followers", get(accounts::followers))
        .route("/api/v1/accounts/{id}/following", get(accounts::following))
        .route("/api/v1/statuses", post(statuses::create))
        .route("/api/v1/statuses/{id}", get(statuses::show).delete(statuses::delete))
        .route("/api/v1/statuses/{id}/context", get(statuses::context))
        .route("/api/v1/timelines/home", get(timelines::home))
        .route("/api/v1/timelines/public", get(timelines::public))
        .route("/api/v1/instance", get(instance::v1))
        .route("/api/v2/instance", get(instance::v2))
        .route("/avatars/original/missing.png", get(instance::placeholder_image))
        .route("/headers/original/missing.png", get(instance::placeholder_image))
}

/// A path id: anything that is not an id names no record.
pub(crate) fn path_id(raw: &str) -> Result<Id, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}
