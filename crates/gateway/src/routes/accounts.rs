//! `/api/v1/accounts/…`: sign-up, profile, lookup, follows and an
//! account's statuses.

use super::Routes;
use super::path_id;
use crate::Gateway;
use crate::auth::{Auth, MaybeAuth};
use crate::errors::OrApi;
use crate::paging::{BaseUrl, link_header, page};
use crate::params::Params;
use crate::render;
use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, patch, post};
use model::entity::{Account, Relationship, Status, Token};
use model::{Email, Id, Password, Username};
use platform::ApiError;
use posts::{AuthorFilter, Mark};
use serde_json::json;
use users::{FollowEdge, SignUp, UsersError};

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default()
        .route("/api/v1/accounts", post(sign_up))
        .route("/api/v1/accounts/verify_credentials", get(verify_credentials))
        .route("/api/v1/accounts/update_credentials", patch(update_credentials))
        .route("/api/v1/accounts/lookup", get(lookup))
        .route("/api/v1/accounts/relationships", get(relationships))
        .route("/api/v1/accounts/{id}", get(show))
        .route("/api/v1/accounts/{id}/statuses", get(statuses))
        .route("/api/v1/accounts/{id}/follow", post(follow))
        .route("/api/v1/accounts/{id}/unfollow", post(unfollow))
        .route("/api/v1/accounts/{id}/followers", get(followers))
        .route("/api/v1/accounts/{id}/following", get(following))
}

/// `POST /api/v1/accounts`'s parameters, every field checked at once and
/// reported in Mastodon's `details` shape.
struct SignUpForm(SignUp);

impl SignUpForm {
    fn parse(params: &Params) -> Result<Self, ApiError> {
        // Collect every field error at once, in Mastodon's `details` shape.
        let mut details = serde_json::Map::new();
        let mut fail = |field: &str, code: &str, msg: String| {
            details.insert(field.to_string(), json!([{ "error": code, "description": msg }]));
        };
        let username = Username::parse(params.get("username").unwrap_or(""))
            .map_err(|e| fail("username", "ERR_INVALID", e.0))
            .ok();
        let email = Email::parse(params.get("email").unwrap_or("")).map_err(|e| fail("email", "ERR_INVALID", e.0)).ok();
        let password = Password::parse(params.get("password").unwrap_or(""))
            .map_err(|e| fail("password", "ERR_INVALID", e.0))
            .ok();
        if params.bool("agreement").ok().flatten() != Some(true) {
            fail("agreement", "ERR_ACCEPTED", "Agreement must be accepted".into());
        }
        let (Some(username), Some(email), Some(password)) = (username, email, password) else {
            let summary: Vec<String> =
                details.values().filter_map(|v| v[0]["description"].as_str().map(String::from)).collect();
            return Err(ApiError::validation(summary.join(", ")).with_details(details.into()));
        };
        if !details.is_empty() {
            return Err(ApiError::validation("Agreement must be accepted").with_details(details.into()));
        }
        Ok(SignUpForm(SignUp { username, email, password }))
    }
}

/// `PATCH /api/v1/accounts/update_credentials`'s fields this server applies
/// (their limits are `users`').
struct ProfileForm {
    display_name: Option<String>,
    note: Option<String>,
    locked: Option<bool>,
}

impl ProfileForm {
    fn parse(params: &Params) -> Result<Self, ApiError> {
        Ok(ProfileForm {
            display_name: params.get("display_name").map(String::from),
            note: params.get("note").or_else(|| params.get("source[note]")).map(String::from),
            locked: params.bool("locked")?,
        })
    }
}

/// `GET /api/v1/accounts/:id/statuses`'s filters.
struct StatusesQuery {
    /// Filters for what Aviary does not have yet (media): their true
    /// answer is empty.
    empty: bool,
    /// Only posts with this hashtag (normalized).
    tagged: Option<String>,
    /// Only the account's pinned posts, newest pin first.
    pinned: bool,
    exclude_replies: bool,
    exclude_reblogs: bool,
}

impl StatusesQuery {
    fn parse(params: &Params) -> Result<Self, ApiError> {
        let pinned = params.bool("pinned")? == Some(true);
        let tagged = params
            .text("tagged")
            .map(|t| {
                model::text::hashtag_named(t)
                    .map(model::text::normalize_hashtag)
                    .ok_or_else(|| ApiError::validation("tagged must be a hashtag"))
            })
            .transpose()?;
        Ok(StatusesQuery {
            empty: params.bool("only_media")? == Some(true),
            tagged,
            pinned,
            exclude_replies: params.bool("exclude_replies")?.unwrap_or(false),
            exclude_reblogs: params.bool("exclude_reblogs")?.unwrap_or(false),
        })
    }
}

pub async fn sign_up(State(gw): State<Gateway>, auth: Auth, params: Params) -> Result<Json<Token>, ApiError> {
    auth.app("write:accounts")?;
    if !gw.settings.instance.registrations_open {
        return Err(ApiError::forbidden("Registrations are closed on this server"));
    }
    let form = SignUpForm::parse(&params)?;
    let account = match gw.users.sign_up(form.0).await {
        Ok(a) => a,
        Err(UsersError::Conflict(what)) => {
            let field = what.to_lowercase();
            let msg = format!("{what} has already been taken");
            return Err(ApiError::validation(&msg)
                .with_details(json!({ field: [{ "error": "ERR_TAKEN", "description": msg }] })));
        }
        Err(e) => return Err(crate::errors::to_api(e)),
    };
    let issued = gw.users.issue_token(auth.0.app.id, Some(account.id), auth.0.scopes.clone()).await.or_api()?;
    Ok(Json(Token {
        access_token: issued.access_token,
        token_type: "Bearer",
        scope: issued.scopes.to_string_joined(),
        created_at: issued.created_at_ms / 1000,
    }))
}

async fn own_account(gw: &Gateway, base: &str, id: Id) -> Result<Account, ApiError> {
    let ids = [id];
    let (records, stats, preferences, follow_requests) = tokio::join!(
        gw.users.accounts(&ids),
        gw.posts.author_stats(&ids),
        gw.users.preferences(id),
        gw.users.follow_request_count(id)
    );
    let record = records.or_api()?.pop().ok_or_else(ApiError::unauthorized)?;
    let parts = render::SourceParts { preferences: preferences.or_api()?, follow_requests: follow_requests.or_api()? };
    Ok(render::own_account(base, &record, stats.or_api()?.first(), &parts))
}

pub async fn verify_credentials(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
) -> Result<Json<Account>, ApiError> {
    let me = auth.user("profile")?;
    Ok(Json(own_account(&gw, &base, me).await?))
}

pub async fn update_credentials(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    params: Params,
) -> Result<Json<Account>, ApiError> {
    let me = auth.user("write:accounts")?;
    let form = ProfileForm::parse(&params)?;
    gw.users.update_profile(me, form.display_name, form.note, form.locked).await.or_api()?;
    Ok(Json(own_account(&gw, &base, me).await?))
}

pub async fn show(
    State(gw): State<Gateway>,
    auth: MaybeAuth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Json<Account>, ApiError> {
    auth.viewer("read:accounts")?;
    Ok(Json(render::one_account(&gw, &base, path_id(&id)?).await?))
}

pub async fn lookup(
    State(gw): State<Gateway>,
    auth: MaybeAuth,
    BaseUrl(base): BaseUrl,
    params: Params,
) -> Result<Json<Account>, ApiError> {
    auth.viewer("read:accounts")?;
    let acct = params.required("acct")?.trim_start_matches('@');
    // Only local accounts exist; `user@<our host>` is the same account.
    let host = base.split("://").nth(1).unwrap_or("");
    let username = match acct.split_once('@') {
        None => acct,
        Some((u, domain)) if domain.eq_ignore_ascii_case(host) || host.starts_with(&format!("{domain}:")) => u,
        Some(_) => return Err(ApiError::not_found()),
    };
    let record = gw.users.lookup(username).await.or_api()?.ok_or_else(ApiError::not_found)?;
    Ok(Json(render::one_account(&gw, &base, record.id).await?))
}

pub async fn relationships(
    State(gw): State<Gateway>,
    auth: Auth,
    params: Params,
) -> Result<Json<Vec<Relationship>>, ApiError> {
    let me = auth.user("read:follows")?;
    // Unparseable ids cannot name accounts; Mastodon drops them too.
    let ids: Vec<Id> = params.all("id").into_iter().filter_map(|s| s.parse().ok()).take(100).collect();
    let rels = gw.users.relationships(me, &ids).await.or_api()?;
    Ok(Json(rels.iter().map(relationship).collect()))
}

pub async fn statuses(
    State(gw): State<Gateway>,
    auth: MaybeAuth,
    BaseUrl(base): BaseUrl,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    params: Params,
) -> Result<(HeaderMap, Json<Vec<Status>>), ApiError> {
    let viewer = auth.viewer("read:statuses")?;
    let author = path_id(&id)?;
    let page = page(&params)?;
    if gw.users.accounts(&[author]).await.or_api()?.is_empty() {
        return Err(ApiError::not_found());
    }
    let query = StatusesQuery::parse(&params)?;
    if query.empty {
        return Ok((HeaderMap::new(), Json(vec![])));
    }
    if query.pinned {
        // Five at most: one page, no cursors. Private pins only to those
        // who may see them.
        let pins = gw.posts.marks(Mark::Pin, author, &model::Page::first(Mark::MAX_PINS as usize)).await.or_api()?;
        let order: Vec<Id> = pins.iter().map(|m| m.post_id).collect();
        return Ok((HeaderMap::new(), Json(render::visible_in_order(&gw, &base, viewer, &order).await?)));
    }
    // Someone who blocks the viewer shows it nothing, as in Mastodon.
    if crate::visibility::blocked_by(&gw, viewer, author).await? {
        return Ok((HeaderMap::new(), Json(vec![])));
    }
    let include_private = crate::visibility::sees_private_of(&gw, viewer, author).await?;
    let filter = AuthorFilter {
        include_private,
        exclude_replies: query.exclude_replies,
        exclude_reblogs: query.exclude_reblogs,
        // The author's direct posts on its own profile only: the accounts
        // they mention read them in their conversations. Keyed by the
        // viewer, the first page would no longer be shared by every reader
        // (`CachedPosts`), and account pages would each cost a query.
        direct_for: viewer.filter(|&v| v == author),
        tagged: query.tagged,
    };
    let posts = gw.posts.by_author(author, filter, &page).await.or_api()?;
    let ids: Vec<Id> = posts.iter().map(|p| p.id).collect();
    let body = render::statuses(&gw, &base, viewer, &posts).await?;
    Ok((link_header(&base, uri.path(), uri.query(), &ids), Json(body)))
}

async fn follow_change(
    gw: &Gateway,
    auth: &Auth,
    id: &str,
    follow: Option<&Params>,
) -> Result<Json<Relationship>, ApiError> {
    let me = auth.user("write:follows")?;
    let target = path_id(id)?;
    let Some(params) = follow else { return Ok(Json(relationship(&gw.users.unfollow(me, target).await.or_api()?))) };
    // `reblogs` and `notify` as Mastodon takes them: following again
    // changes them on the follow (or the request) there is.
    let options = users::FollowOptions { reblogs: params.bool("reblogs")?, notify: params.bool("notify")? };
    let mut r = gw.users.follow(me, target).await.or_api()?;
    if options != users::FollowOptions::default() {
        r = gw.users.set_follow_options(me, target, options).await.or_api()?;
    }
    Ok(Json(relationship(&r)))
}

/// The entity for a relationship record.
pub(crate) fn relationship(r: &users::RelationshipRecord) -> Relationship {
    let mut rel = Relationship::new(r.id, r.following, r.followed_by);
    rel.requested = r.requested;
    rel.requested_by = r.requested_by;
    rel.blocking = r.blocking;
    rel.blocked_by = r.blocked_by;
    rel.muting = r.muting;
    rel.muting_notifications = r.muting_notifications;
    rel.showing_reblogs = r.showing_reblogs;
    rel.notifying = r.notifying;
    rel
}

pub async fn follow(
    State(gw): State<Gateway>,
    auth: Auth,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Relationship>, ApiError> {
    follow_change(&gw, &auth, &id, Some(&params)).await
}

pub async fn unfollow(
    State(gw): State<Gateway>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Relationship>, ApiError> {
    follow_change(&gw, &auth, &id, None).await
}

#[derive(Clone, Copy)]
enum Side {
    Followers,
    Following,
}

async fn follow_list(
    gw: &Gateway,
    auth: &MaybeAuth,
    base: &str,
    uri: &axum::http::Uri,
    id: &str,
    params: &Params,
    side: Side,
) -> Result<(HeaderMap, Json<Vec<Account>>), ApiError> {
    auth.viewer("read:accounts")?;
    let account = path_id(id)?;
    render::one_account(gw, base, account).await?;
    let page = page(params)?;
    let edges: Vec<FollowEdge> = match side {
        Side::Followers => gw.users.followers(account, &page).await,
        Side::Following => gw.users.following(account, &page).await,
    }
    .or_api()?;
    let entries: Vec<(Id, Id)> = edges.iter().map(|e| (e.follow_id, e.account_id)).collect();
    render::account_page(gw, base, uri, &entries).await
}

pub async fn followers(
    State(gw): State<Gateway>,
    auth: MaybeAuth,
    BaseUrl(base): BaseUrl,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    params: Params,
) -> Result<(HeaderMap, Json<Vec<Account>>), ApiError> {
    follow_list(&gw, &auth, &base, &uri, &id, &params, Side::Followers).await
}

pub async fn following(
    State(gw): State<Gateway>,
    auth: MaybeAuth,
    BaseUrl(base): BaseUrl,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    params: Params,
) -> Result<(HeaderMap, Json<Vec<Account>>), ApiError> {
    follow_list(&gw, &auth, &base, &uri, &id, &params, Side::Following).await
}
