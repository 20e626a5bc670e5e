//! `GET /api/v1/favourites` and `GET /api/v1/bookmarks`: the statuses the
//! account marked, newest mark first, paged by mark id (which only the
//! `Link` header shows, as in Mastodon).

use super::Routes;
use crate::Gateway;
use crate::auth::Auth;
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
use posts::Mark;

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default()
        .route(
            "/api/v1/favourites",
            get(|State(gw): State<Gateway>, auth: Auth, base: BaseUrl, uri: OriginalUri, params: Params| {
                list(gw, auth, base, uri, params, Mark::Favourite, "read:favourites")
            }),
        )
        .route(
            "/api/v1/bookmarks",
            get(|State(gw): State<Gateway>, auth: Auth, base: BaseUrl, uri: OriginalUri, params: Params| {
                list(gw, auth, base, uri, params, Mark::Bookmark, "read:bookmarks")
            }),
        )
}

async fn list(
    gw: Gateway,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    OriginalUri(uri): OriginalUri,
    params: Params,
    kind: Mark,
    scope: &'static str,
) -> Result<(HeaderMap, Json<Vec<Status>>), ApiError> {
    let me = auth.user(scope)?;
    let page = page(&params)?;
    let marks = gw.posts.marks(kind, me, &page).await.or_api()?;
    let post_ids: Vec<Id> = marks.iter().map(|m| m.post_id).collect();
    let body = render::visible_in_order(&gw, &base, Some(me), &post_ids).await?;
    let cursors: Vec<Id> = marks.iter().map(|m| m.id).collect();
    Ok((link_header(&base, uri.path(), uri.query(), &cursors), Json(body)))
}
