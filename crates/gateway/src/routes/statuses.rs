//! `/api/v1/statuses/…`: post, read, delete, thread context.

use super::Routes;
use super::path_id;
use crate::Gateway;
use crate::PollLimits;
use crate::auth::{Auth, MaybeAuth};
use crate::errors::OrApi;
use crate::paging::BaseUrl;
use crate::params::Params;
use crate::render;
use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::routing::{MethodRouter, get, post};
use futures::StreamExt;
use model::entity::{Context, Status, StatusEdit, StatusSource};
use model::{Id, PostText, Visibility};
use platform::ApiError;
use posts::{Mark, Mentioned, NewPoll, NewPost, PostEdit, PostRecord};

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default()
        .route("/api/v1/statuses", post(create))
        .route("/api/v1/statuses/{id}", get(show).delete(delete).put(edit))
        .route("/api/v1/statuses/{id}/history", get(history))
        .route("/api/v1/statuses/{id}/source", get(source))
        .route("/api/v1/statuses/{id}/context", get(context))
        .route("/api/v1/statuses/{id}/favourite", mark_handler(Mark::Favourite, true))
        .route("/api/v1/statuses/{id}/unfavourite", mark_handler(Mark::Favourite, false))
        .route("/api/v1/statuses/{id}/bookmark", mark_handler(Mark::Bookmark, true))
        .route("/api/v1/statuses/{id}/unbookmark", mark_handler(Mark::Bookmark, false))
        .route("/api/v1/statuses/{id}/pin", mark_handler(Mark::Pin, true))
        .route("/api/v1/statuses/{id}/unpin", mark_handler(Mark::Pin, false))
        .route("/api/v1/statuses/{id}/mute", mute_handler(true))
        .route("/api/v1/statuses/{id}/unmute", mute_handler(false))
        .route("/api/v1/statuses/{id}/favourited_by", get(favourited_by))
        .route("/api/v1/statuses/{id}/reblog", post(reblog))
        .route("/api/v1/statuses/{id}/unreblog", post(unreblog))
        .route("/api/v1/statuses/{id}/reblogged_by", get(reblogged_by))
}

const MAX_IDEMPOTENCY_KEY: usize = 256;

/// Most distinct accounts one post may mention: each is resolved when the
/// post is written (and notified, with the next issue's notifications).
const MAX_MENTIONS: usize = 50;

/// The local accounts `text` mentions (`@user`, `@user@this-server`),
/// each once, resolved through `users` concurrently; names of no account
/// here stay plain text, as do mentions of other servers.
async fn mentions_in(gw: &Gateway, base: &str, text: &str) -> Result<Vec<Mentioned>, ApiError> {
    let local = crate::html::local_domain(base);
    let mut names: Vec<String> = model::text::mentions(text)
        .into_iter()
        .filter(|m| crate::html::is_local(m.domain, &local))
        .map(|m| m.username.to_ascii_lowercase())
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.len() > MAX_MENTIONS {
        return Err(ApiError::validation(format!("A post may mention at most {MAX_MENTIONS} accounts")));
    }
    let lookups = names.into_iter().map(|name| {
        let users = gw.users.clone();
        async move { users.lookup(&name).await }
    });
    let found = futures::stream::iter(lookups).buffered(8).collect::<Vec<_>>().await;
    let mut out = Vec::with_capacity(found.len());
    for account in found {
        if let Some(a) = account.or_api()? {
            out.push(Mentioned { id: a.id, username: a.username });
        }
    }
    // In the order the text names them, as Mastodon lists them.
    let lower = text.to_ascii_lowercase();
    out.sort_by_key(|m| lower.find(&format!("@{}", m.username.to_ascii_lowercase())).unwrap_or(usize::MAX));
    Ok(out)
}

fn valid_language(l: &str) -> bool {
    let (base, region) = l.split_once('-').unwrap_or((l, ""));
    (2..=3).contains(&base.len())
        && base.chars().all(|c| c.is_ascii_lowercase())
        && region.len() <= 8
        && region.chars().all(|c| c.is_ascii_alphanumeric())
}

/// A post `viewer` may read, or 404 — never 403, which would reveal that a
/// private post exists.
pub(super) async fn readable(gw: &Gateway, viewer: Option<Id>, id: Id) -> Result<PostRecord, ApiError> {
    let post = gw.posts.get(id).await.or_api()?.ok_or_else(ApiError::not_found)?;
    // An author who blocks the viewer is not found either, as in Mastodon.
    if crate::visibility::blocked_by(gw, viewer, post.author_id).await? {
        return Err(ApiError::not_found());
    }
    crate::visibility::visible(gw, viewer, vec![post]).await?.pop().ok_or_else(ApiError::not_found)
}

/// The post an action on `id` acts on, if `viewer` may read it: the
/// original when `id` is a boost (favouriting or boosting a boost
/// favourites or boosts what it shows, as clients expect).
async fn target(gw: &Gateway, viewer: Id, id: Id) -> Result<PostRecord, ApiError> {
    let post = readable(gw, Some(viewer), id).await?;
    match post.reblog_of_id {
        Some(original) => readable(gw, Some(viewer), original).await,
        None => Ok(post),
    }
}

/// `status` and `spoiler_text`, within the instance's limit `max`: the
/// content warning counts towards it, as in Mastodon.
fn text_and_warning(params: &Params, max: usize) -> Result<(PostText, String), ApiError> {
    let text = PostText::parse(params.get("status").unwrap_or(""), max).map_err(ApiError::validation)?;
    let spoiler_text = params.get("spoiler_text").unwrap_or("").to_string();
    if PostText::weighted_len(text.as_str()) + spoiler_text.chars().count() > max {
        return Err(ApiError::validation(format!("Text character limit of {max} exceeded")));
    }
    Ok((text, spoiler_text))
}

/// `visibility`, public when absent (a new status, a boost).
fn visibility(params: &Params) -> Result<Visibility, ApiError> {
    match params.text("visibility") {
        None => Ok(Visibility::Public),
        Some(v) => Visibility::parse(v).map_err(ApiError::validation),
    }
}

/// `language`, when given: an ISO 639 code with an optional region.
fn language(params: &Params) -> Result<Option<String>, ApiError> {
    match params.text("language") {
        None => Ok(None),
        Some(l) if valid_language(l) => Ok(Some(l.to_string())),
        Some(_) => Err(ApiError::validation("Language is not a valid language code")),
    }
}

/// `poll[options][]`, `poll[expires_in]`, `poll[multiple]` and
/// `poll[hide_totals]`, within the instance's limits; `None` without a poll.
fn poll_form(params: &Params, limits: &PollLimits) -> Result<Option<NewPoll>, ApiError> {
    let options: Vec<String> = params.all("poll[options]").into_iter().map(|o| o.trim().to_string()).collect();
    let expires = params.text("poll[expires_in]");
    if options.is_empty() && expires.is_none() {
        return Ok(None);
    }
    if options.len() < 2 {
        return Err(ApiError::validation("Poll must have at least 2 options"));
    }
    if options.len() > limits.max_options {
        return Err(ApiError::validation(format!("Poll can't contain more than {} options", limits.max_options)));
    }
    if options.iter().any(String::is_empty) {
        return Err(ApiError::validation("Poll options can't be blank"));
    }
    if options.iter().any(|o| o.chars().count() > limits.max_characters_per_option) {
        return Err(ApiError::validation(format!(
            "Poll options can't be longer than {} characters",
            limits.max_characters_per_option
        )));
    }
    let mut distinct = options.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != options.len() {
        return Err(ApiError::validation("Poll contains duplicate options"));
    }
    let expires_in_secs: i64 = expires
        .ok_or_else(|| ApiError::validation("Poll expires_in is required"))?
        .parse()
        .map_err(|_| ApiError::validation("Poll expires_in must be a number of seconds"))?;
    if expires_in_secs < limits.min_expiration_secs {
        return Err(ApiError::validation("Poll duration is too short"));
    }
    if expires_in_secs > limits.max_expiration_secs {
        return Err(ApiError::validation("Poll duration is too long"));
    }
    Ok(Some(NewPoll {
        options,
        expires_in_secs,
        multiple: params.bool("poll[multiple]")?.unwrap_or(false),
        hide_totals: params.bool("poll[hide_totals]")?.unwrap_or(false),
    }))
}

/// `POST /api/v1/statuses`'s parameters, as typed values.
struct NewStatusForm {
    text: PostText,
    spoiler_text: String,
    sensitive: bool,
    visibility: Visibility,
    language: Option<String>,
    in_reply_to_id: Option<Id>,
    poll: Option<NewPoll>,
}

impl NewStatusForm {
    /// `max`: the instance's character limit.
    fn parse(params: &Params, max: usize, polls: &PollLimits) -> Result<Self, ApiError> {
        let (text, spoiler_text) = text_and_warning(params, max)?;
        let visibility = visibility(params)?;
        let language = language(params)?;
        if !params.all("media_ids").iter().all(|m| m.is_empty()) {
            return Err(ApiError::validation("Media attachments are not supported by this server yet"));
        }
        if params.text("scheduled_at").is_some() {
            return Err(ApiError::validation("Scheduled statuses are not supported by this server yet"));
        }
        Ok(NewStatusForm {
            text,
            spoiler_text,
            sensitive: params.bool("sensitive")?.unwrap_or(false),
            visibility,
            language,
            in_reply_to_id: params.id("in_reply_to_id")?,
            poll: poll_form(params, polls)?,
        })
    }
}

/// The `Idempotency-Key` header, when given: visible ASCII, 1 to 256 characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let k = v.to_str().map_err(|_| ApiError::bad_request("Idempotency-Key must be visible ASCII"))?;
    if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::bad_request("Idempotency-Key must be 1 to 256 characters"));
    }
    Ok(Some(k.to_string()))
}

pub async fn create(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    params: Params,
) -> Result<Json<Status>, ApiError> {
    let me = auth.user("write:statuses")?;
    let form = NewStatusForm::parse(&params, gw.settings.instance.max_characters, &gw.settings.instance.polls)?;
    if let Some(parent) = form.in_reply_to_id {
        readable(&gw, Some(me), parent).await?;
    }
    let idempotency_key = idempotency_key(&headers)?;
    let mentions = mentions_in(&gw, &base, form.text.as_str()).await?;
    let post = gw
        .posts
        .create(NewPost {
            author_id: me,
            text: form.text,
            spoiler_text: form.spoiler_text,
            sensitive: form.sensitive,
            visibility: form.visibility,
            language: form.language,
            in_reply_to_id: form.in_reply_to_id,
            app_name: Some(auth.0.app.name.clone()),
            app_website: auth.0.app.website.clone(),
            idempotency_key,
            mentions,
            poll: form.poll,
        })
        .await
        .or_api()?;
    Ok(Json(render::one_status(&gw, &base, Some(me), &post).await?))
}

pub async fn show(
    State(gw): State<Gateway>,
    auth: MaybeAuth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Json<Status>, ApiError> {
    let viewer = auth.viewer("read:statuses")?;
    let post = readable(&gw, viewer, path_id(&id)?).await?;
    Ok(Json(render::one_status(&gw, &base, viewer, &post).await?))
}

/// `PUT /api/v1/statuses/:id`'s parameters: what an edit may change.
struct EditForm(PostEdit);

impl EditForm {
    fn parse(params: &Params, max: usize, polls: &PollLimits) -> Result<Self, ApiError> {
        let (text, spoiler_text) = text_and_warning(params, max)?;
        let language = language(params)?;
        if !params.all("media_ids").iter().all(|m| m.is_empty()) {
            return Err(ApiError::validation("Media attachments are not supported by this server yet"));
        }
        let sensitive = params.bool("sensitive")?.unwrap_or(false);
        let poll = poll_form(params, polls)?;
        Ok(EditForm(PostEdit { text, spoiler_text, sensitive, language, mentions: Vec::new(), poll }))
    }
}

/// `PUT /api/v1/statuses/:id`: the author's edit; anyone else's is 404.
/// Every timeline holding the post shows the edit on its next read (they
/// hold ids; the post's record is rewritten).
pub async fn edit(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Status>, ApiError> {
    let me = auth.user("write:statuses")?;
    let mut form = EditForm::parse(&params, gw.settings.instance.max_characters, &gw.settings.instance.polls)?;
    form.0.mentions = mentions_in(&gw, &base, form.0.text.as_str()).await?;
    let post = gw.posts.edit(path_id(&id)?, me, form.0).await.or_api()?;
    Ok(Json(render::one_status(&gw, &base, Some(me), &post).await?))
}

/// `GET /api/v1/statuses/:id/history`: every version, oldest first.
pub async fn history(
    State(gw): State<Gateway>,
    auth: MaybeAuth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Json<Vec<StatusEdit>>, ApiError> {
    let viewer = auth.viewer("read:statuses")?;
    let post = readable(&gw, viewer, path_id(&id)?).await?;
    let (versions, author) = tokio::join!(gw.posts.history(post.id), render::one_account(&gw, &base, post.author_id));
    let author = author?;
    Ok(Json(
        versions
            .or_api()?
            .into_iter()
            .map(|v| StatusEdit {
                content: crate::html::render_text(&v.text),
                spoiler_text: v.spoiler_text,
                sensitive: v.sensitive,
                created_at: model::time_fmt::rfc3339_millis(v.created_at_ms),
                account: author.clone(),
                media_attachments: vec![],
                emojis: vec![],
            })
            .collect(),
    ))
}

/// `GET /api/v1/statuses/:id/source`: the author's own text, for editing.
pub async fn source(
    State(gw): State<Gateway>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<StatusSource>, ApiError> {
    let me = auth.user("read:statuses")?;
    let post = readable(&gw, Some(me), path_id(&id)?).await?;
    if post.author_id != me {
        return Err(ApiError::not_found());
    }
    Ok(Json(StatusSource { id: post.id, text: post.text, spoiler_text: post.spoiler_text }))
}

pub async fn delete(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Json<Status>, ApiError> {
    let me = auth.user("write:statuses")?;
    // Render first: once deleted, the post's replies count and author stats change.
    let post = gw.posts.get(path_id(&id)?).await.or_api()?.ok_or_else(ApiError::not_found)?;
    if post.author_id != me {
        return Err(ApiError::not_found());
    }
    let status = render::one_status(&gw, &base, Some(me), &post).await?;
    let deleted = gw.posts.delete(post.id, me).await.or_api()?;
    Ok(Json(render::with_source(status, &deleted)))
}

pub async fn context(
    State(gw): State<Gateway>,
    auth: MaybeAuth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Json<Context>, ApiError> {
    let viewer = auth.viewer("read:statuses")?;
    let post = readable(&gw, viewer, path_id(&id)?).await?;
    let ((ancestors, descendants), shunned) =
        tokio::try_join!(async { gw.posts.context(post.id).await.or_api() }, crate::visibility::shunned(&gw, viewer))?;
    let ancestors = crate::visibility::visible(&gw, viewer, crate::visibility::without(ancestors, &shunned)).await?;
    let descendants =
        crate::visibility::visible(&gw, viewer, crate::visibility::without(descendants, &shunned)).await?;
    let (a, d) = tokio::join!(
        render::statuses(&gw, &base, viewer, &ancestors),
        render::statuses(&gw, &base, viewer, &descendants)
    );
    Ok(Json(Context { ancestors: a?, descendants: d? }))
}

/// The scope that writes each kind of mark.
fn mark_scope(kind: Mark) -> &'static str {
    match kind {
        Mark::Favourite => "write:favourites",
        Mark::Bookmark => "write:bookmarks",
        Mark::Pin => "write:accounts",
    }
}

/// Sets or takes back a mark: the status as it now is. A post the account
/// may not see is 404; doing it again changes nothing.
async fn set_mark(
    gw: Gateway,
    auth: Auth,
    base: String,
    id: String,
    kind: Mark,
    on: bool,
) -> Result<Json<Status>, ApiError> {
    let me = auth.user(mark_scope(kind))?;
    // A boost itself is never pinned (`posts` says why); other marks go
    // to what it shows.
    let post = match kind {
        Mark::Pin => readable(&gw, Some(me), path_id(&id)?).await?,
        _ => target(&gw, me, path_id(&id)?).await?,
    };
    let post = gw.posts.mark(kind, me, post.id, on).await.or_api()?;
    Ok(Json(render::one_status(&gw, &base, Some(me), &post).await?))
}

/// The handler setting (`on`) or taking back a `kind` mark.
fn mark_handler(kind: Mark, on: bool) -> MethodRouter<Gateway> {
    post(move |State(gw): State<Gateway>, auth: Auth, BaseUrl(base): BaseUrl, Path(id): Path<String>| {
        set_mark(gw, auth, base, id, kind, on)
    })
}

/// `POST /api/v1/statuses/:id/mute|unmute`: the conversation the status
/// belongs to, muted or not for the account (its notifications honour it).
fn mute_handler(on: bool) -> MethodRouter<Gateway> {
    post(move |State(gw): State<Gateway>, auth: Auth, BaseUrl(base): BaseUrl, Path(id): Path<String>| async move {
        let me = auth.user("write:mutes")?;
        let post = target(&gw, me, path_id(&id)?).await?;
        let post = gw.posts.mute_conversation(me, post.id, on).await.or_api()?;
        Ok::<_, ApiError>(Json(render::one_status(&gw, &base, Some(me), &post).await?))
    })
}

/// `POST /api/v1/statuses/:id/reblog`: the boost (a status whose `reblog`
/// is the original), with `visibility` (public, unlisted or private).
/// Boosting again answers the same boost; another's private post is 422.
pub async fn reblog(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Status>, ApiError> {
    let me = auth.user("write:statuses")?;
    let visibility = visibility(&params)?;
    let post = target(&gw, me, path_id(&id)?).await?;
    let boost = gw.posts.reblog(me, post.id, visibility).await.or_api()?;
    Ok(Json(render::one_status(&gw, &base, Some(me), &boost).await?))
}

/// `POST /api/v1/statuses/:id/unreblog`: the original, no longer boosted
/// by the account (again changes nothing).
pub async fn unreblog(
    State(gw): State<Gateway>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Json<Status>, ApiError> {
    let me = auth.user("write:statuses")?;
    let post = target(&gw, me, path_id(&id)?).await?;
    let original = gw.posts.unreblog(me, post.id).await.or_api()?;
    Ok(Json(render::one_status(&gw, &base, Some(me), &original).await?))
}

/// `GET /api/v1/statuses/:id/reblogged_by`: the boosters, newest boost
/// first, paged by boost (`Link`).
pub async fn reblogged_by(
    State(gw): State<Gateway>,
    auth: MaybeAuth,
    BaseUrl(base): BaseUrl,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    params: Params,
) -> Result<(HeaderMap, Json<Vec<model::entity::Account>>), ApiError> {
    let viewer = auth.viewer("read:statuses")?;
    let page = crate::paging::page(&params)?;
    let post = readable(&gw, viewer, path_id(&id)?).await?;
    let boosts = gw.posts.reblogged_by(post.reblog_of_id.unwrap_or(post.id), &page).await.or_api()?;
    render::account_page(&gw, &base, &uri, &marked(&boosts)).await
}

/// (list id, account) of each mark or boost, for [`render::account_page`].
fn marked(list: &[posts::Marked]) -> Vec<(Id, Id)> {
    list.iter().map(|m| (m.id, m.account_id)).collect()
}

/// `GET /api/v1/statuses/:id/favourited_by`: the accounts, newest
/// favourite first, paged by favourite (`Link`).
pub async fn favourited_by(
    State(gw): State<Gateway>,
    auth: MaybeAuth,
    BaseUrl(base): BaseUrl,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    params: Params,
) -> Result<(HeaderMap, Json<Vec<model::entity::Account>>), ApiError> {
    let viewer = auth.viewer("read:statuses")?;
    let page = crate::paging::page(&params)?;
    let post = readable(&gw, viewer, path_id(&id)?).await?;
    let favourites = gw.posts.marked_by(Mark::Favourite, post.reblog_of_id.unwrap_or(post.id), &page).await.or_api()?;
    render::account_page(&gw, &base, &uri, &marked(&favourites)).await
}
