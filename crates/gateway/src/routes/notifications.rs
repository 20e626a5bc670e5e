//! `/api/v1/notifications`: an account's notifications, one by one, and
//! dismissing them: follows, follow requests, favourites, boosts and
//! mentions so far.

use super::{Routes, path_id};
use crate::Gateway;
use crate::auth::Auth;
use crate::errors::OrApi;
use crate::paging::{BaseUrl, link_header, page};
use crate::params::Params;
use crate::render;
use ::notifications::{NotificationFilter, NotificationRecord, NotificationType};
use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use model::Id;
use model::entity::{Notification, Status};
use model::time_fmt::rfc3339_millis;
use platform::ApiError;
use serde_json::{Value, json};
use std::collections::HashMap;

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default()
        .route("/api/v1/notifications", get(list))
        .route("/api/v1/notifications/clear", post(clear))
        .route("/api/v1/notifications/unread_count", get(unread_count))
        .route("/api/v1/notifications/{id}", get(show))
        .route("/api/v1/notifications/{id}/dismiss", post(dismiss))
}

/// `GET /api/v1/notifications`'s filters. Types this server does not
/// record are ignored, as Mastodon ignores unknown ones; an `account_id`
/// that is not an id matches nothing.
struct ListQuery {
    filter: NotificationFilter,
    nothing: bool,
}

impl ListQuery {
    fn parse(params: &Params) -> Result<Self, ApiError> {
        let names = |key: &str| params.all(key).into_iter().filter_map(NotificationType::parse).collect::<Vec<_>>();
        let types = (!params.all("types").is_empty()).then(|| names("types"));
        let (from_account, nothing) = match params.text("account_id") {
            None => (None, false),
            Some(raw) => match raw.parse::<Id>() {
                Ok(id) => (Some(id), false),
                Err(_) => (None, true),
            },
        };
        Ok(ListQuery {
            filter: NotificationFilter { types, exclude_types: names("exclude_types"), from_account },
            nothing,
        })
    }
}

/// Records as entities, each with its status rendered for `me` (one
/// batch for the page); those whose account is gone, or whose status is
/// gone or no longer visible to `me`, are left out.
async fn entities(
    gw: &Gateway,
    base: &str,
    me: Id,
    records: &[NotificationRecord],
) -> Result<Vec<Notification>, ApiError> {
    let mut from: Vec<Id> = records.iter().map(|n| n.from_account_id).collect();
    from.sort_unstable();
    from.dedup();
    let mut about: Vec<Id> = records.iter().filter_map(|n| n.status_id).collect();
    about.sort_unstable();
    about.dedup();
    let (accounts, statuses) = tokio::try_join!(render::accounts(gw, base, &from), async {
        if about.is_empty() {
            return Ok(HashMap::new());
        }
        let posts = gw.posts.get_many(&about).await.or_api()?;
        let posts = crate::visibility::visible(gw, Some(me), posts).await?;
        let shown = render::statuses(gw, base, Some(me), &posts).await?;
        Ok::<_, ApiError>(shown.into_iter().map(|s| (s.id, s)).collect::<HashMap<Id, Status>>())
    })?;
    Ok(records
        .iter()
        .filter_map(|n| {
            let account = accounts.get(&n.from_account_id)?.clone();
            let status = match n.status_id {
                Some(id) => Some(statuses.get(&id)?.clone()),
                None => None,
            };
            Some(Notification {
                id: n.id,
                r#type: n.kind.as_str(),
                group_key: format!("ungrouped-{}", n.id),
                created_at: rfc3339_millis(n.created_at_ms),
                account,
                status,
            })
        })
        .collect())
}

pub async fn list(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<(HeaderMap, Json<Vec<Notification>>), ApiError> {
    let me = auth.user("read:notifications")?;
    let page = page(&params)?;
    let query = ListQuery::parse(&params)?;
    if query.nothing {
        return Ok((HeaderMap::new(), Json(vec![])));
    }
    let records = gw.notifications.list(me, &query.filter, &page).await.or_api()?;
    let ids: Vec<Id> = records.iter().map(|n| n.id).collect();
    let body = entities(&gw, &base, me, &records).await?;
    Ok((link_header(&base, uri.path(), uri.query(), &ids), Json(body)))
}

/// `GET /api/v1/notifications/unread_count`: notifications newer than the
/// account's notifications marker, with the listing's filters, counted up
/// to `limit` (100 by default, at most 1,000, as Mastodon).
pub async fn unread_count(State(gw): State<Gateway>, auth: Auth, params: Params) -> Result<Json<Value>, ApiError> {
    let me = auth.user("read:notifications")?;
    let limit = params.usize("limit")?.unwrap_or(100).clamp(1, 1000) as u64;
    let query = ListQuery::parse(&params)?;
    if query.nothing {
        return Ok(Json(json!({"count": 0})));
    }
    let count = gw.notifications.unread_count(me, &query.filter, limit).await.or_api()?;
    Ok(Json(json!({"count": count})))
}

pub async fn show(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Json<Notification>, ApiError> {
    let me = auth.user("read:notifications")?;
    let record = gw.notifications.get(me, path_id(&id)?).await.or_api()?.ok_or_else(ApiError::not_found)?;
    entities(&gw, &base, me, &[record]).await?.pop().map(Json).ok_or_else(ApiError::not_found)
}

pub async fn dismiss(State(gw): State<Gateway>, auth: Auth, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let me = auth.user("write:notifications")?;
    gw.notifications.dismiss(me, path_id(&id)?).await.or_api()?;
    Ok(Json(json!({})))
}

pub async fn clear(State(gw): State<Gateway>, auth: Auth) -> Result<Json<Value>, ApiError> {
    let me = auth.user("write:notifications")?;
    gw.notifications.clear(me).await.or_api()?;
    Ok(Json(json!({})))
}
