//! Blocks and mutes: `POST /api/v1/accounts/:id/block|unblock|mute|unmute`,
//! `GET /api/v1/blocks` and `GET /api/v1/mutes`. `users` owns them; home
//! timelines, threads and lists apply them (see `timelines` and
//! `crate::visibility`).

use super::{Routes, path_id};
use crate::Gateway;
use crate::auth::Auth;
use crate::errors::OrApi;
use crate::paging::{BaseUrl, link_header, page};
use crate::params::Params;
use crate::render;
use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::routing::{MethodRouter, get, post};
use model::Id;
use model::entity::{Account, Relationship};
use model::time_fmt::{now_millis, rfc3339_millis};
use platform::ApiError;

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default()
        .route("/api/v1/accounts/{id}/block", block(true))
        .route("/api/v1/accounts/{id}/unblock", block(false))
        .route("/api/v1/accounts/{id}/mute", post(mute))
        .route("/api/v1/accounts/{id}/unmute", post(unmute))
        .route("/api/v1/blocks", get(blocks))
        .route("/api/v1/mutes", get(mutes))
}

/// A mute's longest `duration`, in seconds (ten years): longer is "until
/// unmuted", which `0` already says.
const MAX_MUTE_SECS: usize = 10 * 365 * 24 * 3600;

/// Blocks (`on`) or unblocks the account in the path: the relationship.
/// Blocking oneself is 422, an unknown account 404.
fn block(on: bool) -> MethodRouter<Gateway> {
    post(move |State(gw): State<Gateway>, auth: Auth, Path(id): Path<String>| async move {
        let me = auth.user("write:blocks")?;
        let r = gw.users.block(me, path_id(&id)?, on).await.or_api()?;
        Ok::<Json<Relationship>, ApiError>(Json(super::accounts::relationship(&r)))
    })
}

/// `POST /api/v1/accounts/:id/mute`: `notifications` (default true) and
/// `duration` in seconds (0, the default: until unmuted).
pub async fn mute(
    State(gw): State<Gateway>,
    auth: Auth,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Relationship>, ApiError> {
    let me = auth.user("write:mutes")?;
    let target = path_id(&id)?;
    let notifications = params.bool("notifications")?.unwrap_or(true);
    let duration = params.usize("duration")?.unwrap_or(0);
    if duration > MAX_MUTE_SECS {
        return Err(ApiError::validation(format!("duration must be at most {MAX_MUTE_SECS} seconds")));
    }
    let expires_at = (duration > 0).then(|| now_millis() + duration as i64 * 1000);
    let r = gw.users.mute(me, target, notifications, expires_at).await.or_api()?;
    Ok(Json(super::accounts::relationship(&r)))
}

pub async fn unmute(
    State(gw): State<Gateway>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Relationship>, ApiError> {
    let me = auth.user("write:mutes")?;
    let r = gw.users.unmute(me, path_id(&id)?).await.or_api()?;
    Ok(Json(super::accounts::relationship(&r)))
}

/// `GET /api/v1/blocks`: the blocked accounts, newest block first, paged
/// by block (`Link`).
pub async fn blocks(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<(HeaderMap, Json<Vec<Account>>), ApiError> {
    let me = auth.user("read:blocks")?;
    let edges = gw.users.blocks(me, &page(&params)?).await.or_api()?;
    let entries: Vec<(Id, Id)> = edges.iter().map(|e| (e.follow_id, e.account_id)).collect();
    render::account_page(&gw, &base, &uri, &entries).await
}

/// `GET /api/v1/mutes`: the muted accounts with `mute_expires_at`, newest
/// mute first, paged by mute (`Link`).
pub async fn mutes(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<(HeaderMap, Json<Vec<Account>>), ApiError> {
    let me = auth.user("read:mutes")?;
    let edges = gw.users.mutes(me, &page(&params)?).await.or_api()?;
    let who: Vec<Id> = edges.iter().map(|e| e.account_id).collect();
    let mut by_id = render::accounts(&gw, &base, &who).await?;
    let body: Vec<Account> = edges
        .iter()
        .filter_map(|e| {
            let mut a = by_id.remove(&e.account_id)?;
            a.mute_expires_at = Some(e.expires_at_ms.map(rfc3339_millis));
            Some(a)
        })
        .collect();
    let cursors: Vec<Id> = edges.iter().map(|e| e.mute_id).collect();
    Ok((link_header(&base, uri.path(), uri.query(), &cursors), Json(body)))
}
