//! Polls: `GET /api/v1/polls/:id` and `POST /api/v1/polls/:id/votes`. A
//! poll's id is its post's, and it is seen by whoever may see the post.

use super::statuses::readable;
use super::{Routes, path_id};
use crate::Gateway;
use crate::auth::{Auth, MaybeAuth};
use crate::errors::OrApi;
use crate::params::Params;
use crate::render;
use axum::Json;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use model::Id;
use model::entity::Poll;
use platform::ApiError;
use posts::PostRecord;

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default().route("/api/v1/polls/{id}", get(show)).route("/api/v1/polls/{id}/votes", post(vote))
}

/// The Poll entity of `post` for `viewer` (404 if the post has none).
async fn poll_of(gw: &Gateway, viewer: Option<Id>, post: &PostRecord) -> Result<Poll, ApiError> {
    let poll = post.poll.as_ref().ok_or_else(ApiError::not_found)?;
    let state = render::ViewerState::of(gw, viewer, &[post.id]).await;
    Ok(render::render_poll(post, poll, &state))
}

/// `GET /api/v1/polls/:id`.
pub async fn show(State(gw): State<Gateway>, auth: MaybeAuth, Path(id): Path<String>) -> Result<Json<Poll>, ApiError> {
    let viewer = auth.viewer("read:statuses")?;
    let post = readable(&gw, viewer, path_id(&id)?).await?;
    Ok(Json(poll_of(&gw, viewer, &post).await?))
}

/// `POST /api/v1/polls/:id/votes` with `choices[]` (option indexes): once,
/// while the poll is open, one choice unless it is multiple (else 422).
pub async fn vote(
    State(gw): State<Gateway>,
    auth: Auth,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Poll>, ApiError> {
    let me = auth.user("write:statuses")?;
    let choices = params
        .all("choices")
        .into_iter()
        .map(|c| c.parse::<u32>().map_err(|_| ApiError::validation("choices[] must be option indexes")))
        .collect::<Result<Vec<u32>, ApiError>>()?;
    if choices.is_empty() {
        return Err(ApiError::validation("choices[] is required"));
    }
    let post = readable(&gw, Some(me), path_id(&id)?).await?;
    if post.poll.is_none() {
        return Err(ApiError::not_found());
    }
    let post = gw.posts.vote(me, post.id, &choices).await.or_api()?;
    Ok(Json(poll_of(&gw, Some(me), &post).await?))
}
