//! `/api/v1/follow_requests`: the accounts asking to follow a locked
//! account, and its answer to each.

use super::{Routes, path_id};
use crate::Gateway;
use crate::auth::Auth;
use crate::errors::OrApi;
use crate::paging::{BaseUrl, page};
use crate::params::Params;
use crate::render;
use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::routing::{MethodRouter, get, post};
use model::Id;
use model::entity::{Account, Relationship};
use platform::ApiError;

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default()
        .route("/api/v1/follow_requests", get(list))
        .route("/api/v1/follow_requests/{id}/authorize", answer(true))
        .route("/api/v1/follow_requests/{id}/reject", answer(false))
}

/// The requesting accounts, newest request first, paged by request (`Link`).
pub async fn list(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<(HeaderMap, Json<Vec<Account>>), ApiError> {
    let me = auth.user("read:follows")?;
    let page = page(&params)?;
    let requests = gw.users.follow_requests(me, &page).await.or_api()?;
    let entries: Vec<(Id, Id)> = requests.iter().map(|r| (r.follow_id, r.account_id)).collect();
    render::account_page(&gw, &base, &uri, &entries).await
}

/// Authorizes (`accept`) or rejects the request of the account in the
/// path: the relationship as the locked account now sees it. No such
/// request is 404.
fn answer(accept: bool) -> MethodRouter<Gateway> {
    post(move |State(gw): State<Gateway>, auth: Auth, Path(id): Path<String>| async move {
        let me = auth.user("write:follows")?;
        let r = gw.users.answer_follow_request(me, path_id(&id)?, accept).await.or_api()?;
        Ok::<Json<Relationship>, ApiError>(Json(super::accounts::relationship(&r)))
    })
}
