//! Hashtags: `/api/v1/tags/:name` (show, follow, unfollow),
//! `/api/v1/followed_tags` and the tag timeline
//! `/api/v1/timelines/tag/:hashtag`.

use super::Routes;
use crate::Gateway;
use crate::auth::{Auth, MaybeAuth};
use crate::errors::OrApi;
use crate::paging::{BaseUrl, link_header, page};
use crate::params::Params;
use crate::render;
use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::routing::{MethodRouter, get, post};
use model::Id;
use model::entity::{Status, Tag};
use platform::ApiError;
use posts::TagQuery;

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default()
        .route("/api/v1/tags/{name}", get(show))
        .route("/api/v1/tags/{name}/follow", follow_handler(true))
        .route("/api/v1/tags/{name}/unfollow", follow_handler(false))
        .route("/api/v1/followed_tags", get(followed))
        .route("/api/v1/timelines/tag/{hashtag}", get(timeline))
}

/// A hashtag named in a path (with or without its `#`), or 404: a name
/// that is no hashtag names nothing, as in Mastodon.
fn tag_name(raw: &str) -> Result<&str, ApiError> {
    model::text::hashtag_named(raw).ok_or_else(ApiError::not_found)
}

/// `GET /api/v1/tags/:name`: the tag and its use over the last week, also
/// for a tag nobody used yet.
pub async fn show(
    State(gw): State<Gateway>,
    auth: MaybeAuth,
    BaseUrl(base): BaseUrl,
    Path(name): Path<String>,
) -> Result<Json<Tag>, ApiError> {
    let viewer = auth.viewer("read")?;
    let info = gw.posts.tag(tag_name(&name)?, viewer).await.or_api()?;
    Ok(Json(render::tag(&base, &info)))
}

/// `POST /api/v1/tags/:name/follow|unfollow`: idempotent, the tag as it now is.
fn follow_handler(on: bool) -> MethodRouter<Gateway> {
    post(move |State(gw): State<Gateway>, auth: Auth, BaseUrl(base): BaseUrl, Path(name): Path<String>| async move {
        let me = auth.user("write:follows")?;
        let info = gw.posts.follow_tag(me, tag_name(&name)?, on).await.or_api()?;
        Ok::<_, ApiError>(Json(render::tag(&base, &info)))
    })
}

/// `GET /api/v1/followed_tags`: newest follow first, paged by follow (`Link`).
pub async fn followed(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<(HeaderMap, Json<Vec<Tag>>), ApiError> {
    let me = auth.user("read:follows")?;
    let page = page(&params)?;
    let rows = gw.posts.followed_tags(me, &page).await.or_api()?;
    let cursors: Vec<Id> = rows.iter().map(|r| r.0).collect();
    let body = rows.iter().map(|(_, t)| render::tag(&base, t)).collect();
    Ok((link_header(&base, uri.path(), uri.query(), &cursors), Json(body)))
}

/// The tags `key[]` names (normalized), at most
/// [`TagQuery::MAX_PER_MODE`]; an entry that is no hashtag is refused.
fn tag_list(params: &Params, key: &str) -> Result<Vec<String>, ApiError> {
    let given: Vec<&str> = params.all(key).into_iter().filter(|t| !t.is_empty()).collect();
    if given.len() > TagQuery::MAX_PER_MODE {
        return Err(ApiError::validation(format!("{key}[] takes at most {} hashtags", TagQuery::MAX_PER_MODE)));
    }
    let mut tags = given
        .into_iter()
        .map(|t| {
            model::text::hashtag_named(t)
                .map(model::text::normalize_hashtag)
                .ok_or_else(|| ApiError::validation(format!("{key}[] must name hashtags")))
        })
        .collect::<Result<Vec<String>, ApiError>>()?;
    // Each once: `all[]` counts the tags a post must have.
    tags.sort_unstable();
    tags.dedup();
    Ok(tags)
}

/// `GET /api/v1/timelines/tag/:hashtag`: public posts with the tag (or any
/// of `any[]`), all of `all[]` and none of `none[]`, newest first. Every
/// account is local and no post has media yet: `remote` and `only_media`
/// select nothing, `local` everything.
pub async fn timeline(
    State(gw): State<Gateway>,
    auth: MaybeAuth,
    BaseUrl(base): BaseUrl,
    OriginalUri(uri): OriginalUri,
    Path(hashtag): Path<String>,
    params: Params,
) -> Result<(HeaderMap, Json<Vec<Status>>), ApiError> {
    let viewer = auth.viewer("read:statuses")?;
    let page = page(&params)?;
    let main = tag_name(&hashtag).map_err(|_| ApiError::validation("The hashtag is not a valid hashtag"))?;
    let mut query =
        TagQuery { any: tag_list(&params, "any")?, all: tag_list(&params, "all")?, none: tag_list(&params, "none")? };
    query.any.push(model::text::normalize_hashtag(main));
    query.any.sort_unstable();
    query.any.dedup();
    params.bool("local")?;
    if params.bool("remote")? == Some(true) || params.bool("only_media")? == Some(true) {
        return Ok((HeaderMap::new(), Json(vec![])));
    }
    let (posts, shunned) = tokio::try_join!(
        async { gw.posts.tag_timeline(&query, &page).await.or_api() },
        crate::visibility::shunned(&gw, viewer)
    )?;
    // The cursors come from every post read, so hidden ones are skipped, not a wall.
    let ids: Vec<Id> = posts.iter().map(|p| p.id).collect();
    let posts = crate::visibility::without(posts, &shunned);
    let body = render::statuses(&gw, &base, viewer, &posts).await?;
    Ok((link_header(&base, uri.path(), uri.query(), &ids), Json(body)))
}
