//! `/api/v1/timelines/home` and `/api/v1/timelines/public`.

use super::Routes;
use crate::Gateway;
use crate::auth::{Auth, MaybeAuth};
use crate::errors::OrApi;
use crate::paging::{BaseUrl, link_header, page};
use crate::params::Params;
use crate::render;
use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::routing::get;
use model::Id;
use model::entity::Status;
use platform::ApiError;
use std::collections::HashSet;

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default().route("/api/v1/timelines/home", get(home)).route("/api/v1/timelines/public", get(public))
}

/// Entries (post and author ids) from `timelines`, then the posts and the
/// authors concurrently. Posts deleted since they were fanned out simply
/// drop out of the page; the `Link` cursors still come from the ids, so
/// paging never skips or repeats.
pub async fn home(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<(HeaderMap, Json<Vec<Status>>), ApiError> {
    let me = auth.user("read:statuses")?;
    let page = page(&params)?;
    let entries = gw.timelines.home(me, &page).await.or_api()?;
    let ids: Vec<Id> = entries.iter().map(|e| e.post_id).collect();
    let authors: Vec<Id> = entries.iter().map(|e| e.author_id).collect::<HashSet<_>>().into_iter().collect();
    let (posts, accounts, state) = tokio::join!(
        gw.posts.get_many(&ids),
        render::accounts(&gw, &base, &authors),
        render::ViewerState::of(&gw, Some(me), &ids)
    );
    let body = render::assemble(&base, &posts.or_api()?, &accounts?, &state);
    Ok((link_header(&base, uri.path(), uri.query(), &ids), Json(body)))
}

/// `GET /api/v1/timelines/public`'s filters. Every account is local and no
/// post has media yet: `remote` and `only_media` select nothing, `local`
/// everything (still checked, so a malformed one is refused).
struct PublicQuery {
    selects_nothing: bool,
}

impl PublicQuery {
    fn parse(params: &Params) -> Result<Self, ApiError> {
        if params.bool("remote")? == Some(true) || params.bool("only_media")? == Some(true) {
            return Ok(PublicQuery { selects_nothing: true });
        }
        params.bool("local")?;
        Ok(PublicQuery { selects_nothing: false })
    }
}

pub async fn public(
    State(gw): State<Gateway>,
    auth: MaybeAuth,
    BaseUrl(base): BaseUrl,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<(HeaderMap, Json<Vec<Status>>), ApiError> {
    let viewer = auth.viewer("read:statuses")?;
    let page = page(&params)?;
    if PublicQuery::parse(&params)?.selects_nothing {
        return Ok((HeaderMap::new(), Json(vec![])));
    }
    let posts = gw.posts.public(&page).await.or_api()?;
    let ids: Vec<Id> = posts.iter().map(|p| p.id).collect();
    let body = render::statuses(&gw, &base, viewer, &posts).await?;
    Ok((link_header(&base, uri.path(), uri.query(), &ids), Json(body)))
}
