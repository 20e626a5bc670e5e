//! Direct conversations: `/api/v1/conversations` (list, read, remove).
//! A conversation is a thread of direct posts as one participant sees it:
//! its newest post, the other participants, and whether that post is
//! unread.

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
use axum::routing::{get, post};
use model::Id;
use model::entity::Conversation;
use platform::ApiError;
use posts::ConversationRow;
use std::collections::{HashMap, HashSet};

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default()
        .route("/api/v1/conversations", get(list))
        .route("/api/v1/conversations/{id}", axum::routing::delete(remove))
        .route("/api/v1/conversations/{id}/read", post(read))
}

/// The entities for `rows`, in their order: each newest post rendered for
/// `me`, the participants other than `me` (its author and the accounts it
/// mentions). A conversation whose newest post is gone drops out.
async fn conversations(
    gw: &Gateway,
    base: &str,
    me: Id,
    rows: &[ConversationRow],
) -> Result<Vec<Conversation>, ApiError> {
    let ids: Vec<Id> = rows.iter().map(|r| r.last_post_id).collect();
    let posts = gw.posts.get_many(&ids).await.or_api()?;
    let people: Vec<Id> = posts
        .iter()
        .flat_map(|p| std::iter::once(p.author_id).chain(p.mentions.iter().map(|m| m.id)))
        .filter(|&a| a != me)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let (statuses, accounts) =
        tokio::join!(render::statuses(gw, base, Some(me), &posts), render::accounts(gw, base, &people));
    let (statuses, accounts) = (statuses?, accounts?);
    let by_post: HashMap<Id, &posts::PostRecord> = posts.iter().map(|p| (p.id, p)).collect();
    let mut statuses: HashMap<Id, model::entity::Status> = statuses.into_iter().map(|s| (s.id, s)).collect();
    Ok(rows
        .iter()
        .filter_map(|r| {
            let post = by_post.get(&r.last_post_id)?;
            let mut seen = HashSet::new();
            let others: Vec<Id> = std::iter::once(post.author_id)
                .chain(post.mentions.iter().map(|m| m.id))
                .filter(|&a| a != me && seen.insert(a))
                .collect();
            Some(Conversation {
                id: r.conversation_id,
                unread: r.unread,
                accounts: others.iter().filter_map(|a| accounts.get(a).cloned()).collect(),
                last_status: Some(statuses.remove(&r.last_post_id)?),
            })
        })
        .collect())
}

/// `GET /api/v1/conversations`: newest post first, paged by it (`Link`).
pub async fn list(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<(HeaderMap, Json<Vec<Conversation>>), ApiError> {
    let me = auth.user("read:statuses")?;
    let page = page(&params)?;
    let rows = gw.posts.conversations(me, &page).await.or_api()?;
    let cursors: Vec<Id> = rows.iter().map(|r| r.last_post_id).collect();
    let body = conversations(&gw, &base, me, &rows).await?;
    Ok((link_header(&base, uri.path(), uri.query(), &cursors), Json(body)))
}

/// `POST /api/v1/conversations/:id/read`: the conversation, read.
pub async fn read(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Json<Conversation>, ApiError> {
    let me = auth.user("write:conversations")?;
    let row = gw.posts.conversation_seen(me, path_id(&id)?, false).await.or_api()?;
    conversations(&gw, &base, me, &[row]).await?.pop().map(Json).ok_or_else(ApiError::not_found)
}

/// `DELETE /api/v1/conversations/:id`: gone from the list until a newer post.
pub async fn remove(
    State(gw): State<Gateway>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let me = auth.user("write:conversations")?;
    gw.posts.conversation_seen(me, path_id(&id)?, true).await.or_api()?;
    Ok(Json(serde_json::json!({})))
}
