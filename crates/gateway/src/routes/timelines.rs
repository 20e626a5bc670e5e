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
use posts::PostRecord;
use std::collections::{HashMap, HashSet};

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default().route("/api/v1/timelines/home", get(home)).route("/api/v1/timelines/public", get(public))
}

/// Entries (post, author and boosted post ids) from `timelines`, then the
/// posts with the originals the boosts show, the authors and the viewer's
/// state concurrently; only the originals' authors wait for the posts.
/// Posts deleted since they were fanned out simply drop out of the page;
/// the `Link` cursors still come from the ids, so paging never skips or
/// repeats.
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
    let mut wanted = ids.clone();
    wanted.extend(entries.iter().filter_map(|e| e.reblog_of).filter(|o| !ids.contains(o)));
    let authors: Vec<Id> = entries.iter().map(|e| e.author_id).collect::<HashSet<_>>().into_iter().collect();
    let (posts, accounts, state) = tokio::join!(
        gw.posts.get_many(&wanted),
        render::accounts(&gw, &base, &authors),
        render::ViewerState::of(&gw, Some(me), &wanted)
    );
    let (mut posts, mut accounts) = (posts.or_api()?, accounts?);
    // The boosted originals: split off (a post both on the page and boosted
    // on it stays on it), the ones the viewer may not see dropped.
    let boosted_ids: HashSet<Id> = entries.iter().filter_map(|e| e.reblog_of).collect();
    let originals = if boosted_ids.is_empty() {
        HashMap::new()
    } else {
        let boosted: Vec<PostRecord> = posts.iter().filter(|p| boosted_ids.contains(&p.id)).cloned().collect();
        let on_page: HashSet<Id> = ids.iter().copied().collect();
        posts.retain(|p| on_page.contains(&p.id));
        let boosted = crate::visibility::visible(&gw, Some(me), boosted).await?;
        let missing: Vec<Id> = boosted.iter().map(|p| p.author_id).filter(|a| !accounts.contains_key(a)).collect();
        accounts.extend(render::accounts(&gw, &base, &missing).await?);
        boosted.into_iter().map(|p| (p.id, p)).collect()
    };
    let body = render::assemble(&base, &posts, &originals, &accounts, &state);
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
    let (posts, shunned) =
        tokio::try_join!(async { gw.posts.public(&page).await.or_api() }, crate::visibility::shunned(&gw, viewer))?;
    // The cursors come from every post read, so hidden ones are skipped, not a wall.
    let ids: Vec<Id> = posts.iter().map(|p| p.id).collect();
    let posts = crate::visibility::without(posts, &shunned);
    let body = render::statuses(&gw, &base, viewer, &posts).await?;
    Ok((link_header(&base, uri.path(), uri.query(), &ids), Json(body)))
}
