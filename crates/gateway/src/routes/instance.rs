//! `/api/v1/instance` and `/api/v2/instance`: what clients read first to
//! learn the server's version, limits and registration state.

use super::Routes;
use crate::errors::OrApi;
use crate::paging::BaseUrl;
use crate::{Gateway, MASTODON_API_VERSION};
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use platform::ApiError;
use serde_json::{Value, json};

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default()
        .route("/api/v1/instance", get(v1))
        .route("/api/v2/instance", get(v2))
        .route("/avatars/original/missing.png", get(placeholder_image))
        .route("/headers/original/missing.png", get(placeholder_image))
}

fn version() -> String {
    format!("{MASTODON_API_VERSION} (compatible; Aviary {})", env!("CARGO_PKG_VERSION"))
}

fn statuses_config(gw: &Gateway) -> Value {
    json!({
        "max_characters": gw.settings.instance.max_characters,
        "max_media_attachments": 0,
        "characters_reserved_per_url": model::PostText::URL_WEIGHT,
    })
}

fn host(base: &str) -> String {
    base.split("://").nth(1).unwrap_or(base).to_string()
}

/// `configuration.polls`: the limits the status routes apply.
fn polls_config(gw: &Gateway) -> Value {
    let p = &gw.settings.instance.polls;
    json!({
        "max_options": p.max_options,
        "max_characters_per_option": p.max_characters_per_option,
        "min_expiration": p.min_expiration_secs,
        "max_expiration": p.max_expiration_secs,
    })
}

pub async fn v1(State(gw): State<Gateway>, BaseUrl(base): BaseUrl) -> Result<Json<Value>, ApiError> {
    let (users, posts) = tokio::join!(gw.users.account_count(), gw.posts.post_count());
    let s = &gw.settings.instance;
    Ok(Json(json!({
        "uri": host(&base),
        "title": s.title,
        "short_description": s.description,
        "description": s.description,
        "email": s.contact_email,
        "version": version(),
        "urls": { "streaming_api": base.replacen("http", "ws", 1) },
        "stats": { "user_count": users.or_api()?, "status_count": posts.or_api()?, "domain_count": 0 },
        "thumbnail": null,
        "languages": ["en"],
        "registrations": s.registrations_open,
        "approval_required": false,
        "invites_enabled": false,
        "configuration": {
            "accounts": { "max_featured_tags": 0 },
            "statuses": statuses_config(&gw),
            "media_attachments": { "supported_mime_types": [], "image_size_limit": 0, "image_matrix_limit": 0,
                                   "video_size_limit": 0, "video_frame_rate_limit": 0, "video_matrix_limit": 0 },
            "polls": polls_config(&gw),
        },
        "contact_account": null,
        "rules": [],
    })))
}

pub async fn v2(State(gw): State<Gateway>, BaseUrl(base): BaseUrl) -> Result<Json<Value>, ApiError> {
    let s = &gw.settings.instance;
    let users = gw.users.account_count().await.or_api()?;
    Ok(Json(json!({
        "domain": host(&base),
        "title": s.title,
        "version": version(),
        "source_url": "https://github.com/aviary-social/aviary",
        "description": s.description,
        "usage": { "users": { "active_month": users } },
        "thumbnail": { "url": format!("{base}/avatars/original/missing.png") },
        "icon": [],
        "languages": ["en"],
        "configuration": {
            "urls": { "streaming": base.replacen("http", "ws", 1), "status": null },
            "vapid": { "public_key": "" },
            "accounts": { "max_featured_tags": 0, "max_pinned_statuses": posts::Mark::MAX_PINS },
            "statuses": statuses_config(&gw),
            "media_attachments": { "supported_mime_types": [], "image_size_limit": 0, "image_matrix_limit": 0,
                                   "video_size_limit": 0, "video_frame_rate_limit": 0, "video_matrix_limit": 0 },
            "polls": polls_config(&gw),
            "translation": { "enabled": false },
        },
        "registrations": { "enabled": s.registrations_open, "approval_required": false, "message": null, "url": null },
        "api_versions": { "mastodon": 2 },
        "contact": { "email": s.contact_email, "account": null },
        "rules": [],
    })))
}

/// A 1×1 transparent PNG for the default avatar and header, so clients
/// that load `avatar` get an image rather than a 404.
pub async fn placeholder_image() -> impl IntoResponse {
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00,
        0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d,
        0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    ([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "public, max-age=86400")], PNG)
}
