//! Aggregation: component records → Mastodon entities. Statuses need their
//! authors (from `users`) and the authors' post counters (from `posts`);
//! both are fetched concurrently, once per page, never per item.
//!
//! Parts are essential or not. Posts and accounts are: without them there
//! is no answer, and their failure is the request's (503). The authors'
//! post counters (`statuses_count`, `last_status_at`) are not: if they fail
//! or take longer than `optional_timeout`, the page is served without them
//! (zero / null) and the response names what is missing in the
//! `X-Aviary-Degraded` header, rather than failing or waiting.

use crate::Gateway;
use crate::errors::OrApi;
use crate::html::{escape, profile_url, render_text, tag_url};
use model::Id;
use model::entity::{
    Account, Poll, PollOption, Source, Status, StatusApplication, StatusMention, StatusTag, Tag, TagHistory,
};
use model::time_fmt::{date_only, rfc3339_millis};
use platform::ApiError;
use posts::{AuthorStats, PostRecord};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use users::AccountRecord;

pub fn account(base: &str, a: &AccountRecord, stats: Option<&AuthorStats>) -> Account {
    let avatar = format!("{base}/avatars/original/missing.png");
    let header = format!("{base}/headers/original/missing.png");
    Account {
        id: a.id,
        username: a.username.clone(),
        acct: a.username.clone(),
        url: profile_url(base, &a.username),
        uri: format!("{base}/users/{}", a.username),
        display_name: a.display_name.clone(),
        note: if a.note.is_empty() { String::new() } else { render_text(&a.note) },
        avatar: avatar.clone(),
        avatar_static: avatar,
        header: header.clone(),
        header_static: header,
        locked: a.locked,
        fields: vec![],
        emojis: vec![],
        bot: a.bot,
        group: false,
        discoverable: Some(true),
        indexable: false,
        noindex: Some(false),
        created_at: rfc3339_millis(a.created_at_ms),
        last_status_at: stats.and_then(|s| s.last_status_at_ms).map(date_only),
        statuses_count: stats.map_or(0, |s| s.statuses_count),
        followers_count: a.followers_count,
        following_count: a.following_count,
        source: None,
        mute_expires_at: None,
    }
}

/// What `source` says beyond the account record: the posting defaults and
/// the follow requests waiting.
pub struct SourceParts {
    pub preferences: users::Preferences,
    pub follow_requests: u64,
}

/// The caller's own account, with `source` (what `verify_credentials` returns).
pub fn own_account(base: &str, a: &AccountRecord, stats: Option<&AuthorStats>, parts: &SourceParts) -> Account {
    let mut acc = account(base, a, stats);
    acc.source = Some(Source {
        privacy: parts.preferences.posting_visibility.as_str(),
        sensitive: parts.preferences.posting_sensitive,
        language: parts.preferences.posting_language.clone(),
        note: a.note.clone(),
        fields: vec![],
        follow_requests_count: parts.follow_requests,
    });
    acc
}

tokio::task_local! {
    /// Parts left out of the current response (see the module docs).
    static DEGRADED: RefCell<Vec<&'static str>>;
}

/// Runs a request, collecting the parts its answer had to leave out.
pub async fn collect_degraded<F: Future>(f: F) -> (F::Output, Vec<&'static str>) {
    DEGRADED
        .scope(RefCell::new(Vec::new()), async {
            let out = f.await;
            (out, DEGRADED.with(|d| d.borrow().clone()))
        })
        .await
}

fn degraded(part: &'static str) {
    // Outside a collecting scope (internal callers) there is no one to tell.
    let _ = DEGRADED.try_with(|d| {
        let mut d = d.borrow_mut();
        if !d.contains(&part) {
            d.push(part);
        }
    });
}

/// Accounts for `ids`, keyed by id; ids that no longer exist are absent.
pub async fn accounts(gw: &Gateway, base: &str, ids: &[Id]) -> Result<HashMap<Id, Account>, ApiError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let budget = gw.settings.http.optional_timeout();
    let (records, stats) =
        tokio::join!(gw.users.accounts(ids), tokio::time::timeout(budget, gw.posts.author_stats(ids)));
    let records = records.or_api()?;
    let stats: HashMap<Id, AuthorStats> = match stats {
        Ok(Ok(stats)) => stats.into_iter().map(|s| (s.author_id, s)).collect(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "author counters unavailable; answering without them");
            degraded("author-stats");
            HashMap::new()
        }
        Err(_) => {
            tracing::warn!(?budget, "author counters too slow; answering without them");
            degraded("author-stats");
            HashMap::new()
        }
    };
    Ok(records.iter().map(|a| (a.id, account(base, a, stats.get(&a.id)))).collect())
}

/// The accounts `order` names, in that order; ids that no longer exist
/// drop out. For lists kept by something other than the account id
/// (followers, favouriters, follow requests).
pub async fn accounts_in_order(gw: &Gateway, base: &str, order: &[Id]) -> Result<Vec<Account>, ApiError> {
    let mut by_id = accounts(gw, base, order).await?;
    Ok(order.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// A page of a list of accounts kept by something other than the account
/// id (followers, favouriters, boosters, follow requests, blocks): each
/// entry is (the list's own id, the account). The accounts in the list's
/// order, and `Link` cursors from the list's ids, so paging never skips.
pub async fn account_page(
    gw: &Gateway,
    base: &str,
    uri: &axum::http::Uri,
    entries: &[(Id, Id)],
) -> Result<(axum::http::HeaderMap, axum::Json<Vec<Account>>), ApiError> {
    let who: Vec<Id> = entries.iter().map(|e| e.1).collect();
    let body = accounts_in_order(gw, base, &who).await?;
    let cursors: Vec<Id> = entries.iter().map(|e| e.0).collect();
    Ok((crate::paging::link_header(base, uri.path(), uri.query(), &cursors), axum::Json(body)))
}

pub async fn one_account(gw: &Gateway, base: &str, id: Id) -> Result<Account, ApiError> {
    accounts(gw, base, &[id]).await?.remove(&id).ok_or_else(ApiError::not_found)
}

/// What the viewer has done to the posts of a page (`favourited`,
/// `bookmarked`, `pinned`, `muted`), looked up once per page.
#[derive(Debug, Default)]
pub struct ViewerState {
    favourited: HashSet<Id>,
    bookmarked: HashSet<Id>,
    /// The viewer's own posts it pinned.
    pinned: HashSet<Id>,
    /// Posts in conversations the viewer muted.
    muted: HashSet<Id>,
    /// Posts the viewer boosted.
    reblogged: HashSet<Id>,
    /// The viewer's choices in the polls of the page; `None`: no viewer
    /// (or its state could not be read).
    votes: Option<HashMap<Id, Vec<u32>>>,
    viewer: Option<Id>,
}

impl ViewerState {
    /// Whether the viewer is `account`.
    fn is(&self, account: Id) -> bool {
        self.viewer == Some(account)
    }

    /// The viewer's state for `posts`: one batched lookup. Like
    /// the authors' counters, it is a part a page can do without: if it
    /// fails or is late, the page says so (`X-Aviary-Degraded`) and shows
    /// nothing as done.
    pub async fn of(gw: &Gateway, viewer: Option<Id>, posts: &[Id]) -> ViewerState {
        let Some(viewer) = viewer else { return ViewerState::default() };
        let known = ViewerState { viewer: Some(viewer), ..ViewerState::default() };
        if posts.is_empty() {
            return ViewerState { votes: Some(HashMap::new()), ..known };
        }
        let budget = gw.settings.http.optional_timeout();
        match tokio::time::timeout(budget, gw.posts.viewer_marks(viewer, posts)).await {
            Ok(Ok(marks)) => ViewerState {
                favourited: marks.favourited.into_iter().collect(),
                bookmarked: marks.bookmarked.into_iter().collect(),
                pinned: marks.pinned.into_iter().collect(),
                muted: marks.muted.into_iter().collect(),
                reblogged: marks.reblogged.into_iter().collect(),
                votes: Some(marks.votes.into_iter().fold(HashMap::new(), |mut by, (post, choice)| {
                    by.entry(post).or_insert_with(Vec::new).push(choice);
                    by
                })),
                viewer: Some(viewer),
            },
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "viewer state unavailable; answering without it");
                degraded("viewer-state");
                known
            }
            Err(_) => {
                tracing::warn!(?budget, "viewer state too slow; answering without it");
                degraded("viewer-state");
                known
            }
        }
    }
}

fn status(base: &str, p: &PostRecord, author: Arc<Account>, viewer: &ViewerState) -> Status {
    Status {
        id: p.id,
        uri: format!("{}/statuses/{}", author.uri, p.id),
        url: format!("{base}/@{}/{}", author.username, p.id),
        created_at: rfc3339_millis(p.created_at_ms),
        edited_at: p.edited_at_ms.map(rfc3339_millis),
        content: crate::html::render_post(&p.text, &p.mentions, base),
        text: None,
        visibility: p.visibility.as_str(),
        sensitive: p.sensitive || !p.spoiler_text.is_empty(),
        spoiler_text: p.spoiler_text.clone(),
        media_attachments: vec![],
        application: p.app_name.as_ref().map(|n| StatusApplication {
            name: n.clone(),
            // Only web links: a website stored before apps were checked on
            // registration never reaches a client as a `javascript:` link.
            website: p.app_website.clone().filter(|w| crate::params::is_web_url(w)),
        }),
        mentions: p
            .mentions
            .iter()
            .map(|m| StatusMention {
                id: m.id,
                username: m.username.clone(),
                url: profile_url(base, &m.username),
                acct: m.username.clone(),
            })
            .collect(),
        tags: p.tags.iter().map(|t| status_tag(base, t)).collect(),
        emojis: vec![],
        reblogs_count: p.reblogs_count,
        favourites_count: p.favourites_count,
        replies_count: p.replies_count,
        in_reply_to_id: p.in_reply_to_id,
        in_reply_to_account_id: p.in_reply_to_account_id,
        reblog: None,
        poll: p.poll.as_ref().map(|poll| render_poll(p, poll, viewer)),
        card: None,
        language: p.language.clone(),
        favourited: viewer.favourited.contains(&p.id),
        reblogged: viewer.reblogged.contains(&p.id),
        muted: viewer.muted.contains(&p.id),
        bookmarked: viewer.bookmarked.contains(&p.id),
        pinned: viewer.pinned.contains(&p.id),
        filtered: vec![],
        account: author,
    }
}

/// The Poll entity of post `p`'s poll, as the viewer sees it: totals
/// hidden while `hide_totals` asks (not from the author, not once ended).
pub fn render_poll(p: &PostRecord, poll: &posts::PollRecord, viewer: &ViewerState) -> Poll {
    let expired = poll.expired(model::time_fmt::now_millis());
    let own = viewer.votes.as_ref().map(|v| {
        let mut mine = v.get(&p.id).cloned().unwrap_or_default();
        mine.sort_unstable();
        mine
    });
    let hidden = poll.hide_totals && !expired && !viewer.is(p.author_id);
    Poll {
        id: p.id,
        expires_at: Some(rfc3339_millis(poll.expires_at_ms)),
        expired,
        multiple: poll.multiple,
        votes_count: poll.votes_count,
        voters_count: poll.multiple.then_some(poll.voters_count),
        options: poll
            .options
            .iter()
            .map(|o| PollOption { title: o.title.clone(), votes_count: (!hidden).then_some(o.votes) })
            .collect(),
        emojis: vec![],
        voted: own.as_ref().map(|o| !o.is_empty()),
        own_votes: own,
    }
}

/// A hashtag as a status names it: as written, linked by its normalized name.
fn status_tag(base: &str, name: &str) -> StatusTag {
    StatusTag { name: name.to_string(), url: tag_url(base, name) }
}

/// The Tag entity for a hashtag and its use.
pub fn tag(base: &str, t: &posts::TagInfo) -> Tag {
    Tag {
        name: t.name.clone(),
        url: tag_url(base, &t.name),
        history: t
            .history
            .iter()
            .map(|&(day_ms, uses, accounts)| TagHistory {
                day: (day_ms / 1000).to_string(),
                uses: uses.to_string(),
                accounts: accounts.to_string(),
            })
            .collect(),
        following: t.following,
    }
}

/// A boost as Mastodon shows it: an empty status of the booster's whose
/// `reblog` is the original. Its flags are the original's (every action on
/// a boost acts on the original), its counts its own.
fn boost(mut shell: Status, original: Status) -> Status {
    shell.uri = format!("{}/activity", shell.uri);
    shell.favourited = original.favourited;
    shell.reblogged = original.reblogged;
    shell.bookmarked = original.bookmarked;
    shell.muted = original.muted;
    shell.reblog = Some(Box::new(original));
    shell
}

/// The posts the boosts among `posts` show, keyed by id: those that still
/// exist and `viewer` may see (a boost of anything else drops out of the
/// page). No call when there is no boost.
pub async fn originals(
    gw: &Gateway,
    viewer: Option<Id>,
    posts: &[PostRecord],
) -> Result<HashMap<Id, PostRecord>, ApiError> {
    let wanted: Vec<Id> = posts.iter().filter_map(|p| p.reblog_of_id).collect::<HashSet<_>>().into_iter().collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let (found, shunned) =
        tokio::try_join!(async { gw.posts.get_many(&wanted).await.or_api() }, crate::visibility::shunned(gw, viewer))?;
    let visible = crate::visibility::visible(gw, viewer, crate::visibility::without(found, &shunned)).await?;
    Ok(visible.into_iter().map(|p| (p.id, p)).collect())
}

/// Statuses for `posts` as `viewer` sees them, in the given order: the
/// boosted originals, then their authors and the viewer's state fetched
/// concurrently. A post whose author cannot be found is dropped rather
/// than failing the page.
pub async fn statuses(
    gw: &Gateway,
    base: &str,
    viewer: Option<Id>,
    posts: &[PostRecord],
) -> Result<Vec<Status>, ApiError> {
    let originals = originals(gw, viewer, posts).await?;
    let shown = || posts.iter().chain(originals.values());
    let authors: Vec<Id> = shown().map(|p| p.author_id).collect::<HashSet<_>>().into_iter().collect();
    let ids: Vec<Id> = shown().map(|p| p.id).collect();
    let (accounts, state) = tokio::join!(accounts(gw, base, &authors), ViewerState::of(gw, viewer, &ids));
    Ok(assemble(base, posts, &originals, &accounts?, &state))
}

/// The statuses of the posts `order` names, in that order, as `viewer` may
/// see them: a post deleted since, or not (or no longer) visible to the
/// viewer, drops out. For lists kept by something other than the post id
/// (favourites, bookmarks, pins).
pub async fn visible_in_order(
    gw: &Gateway,
    base: &str,
    viewer: Option<Id>,
    order: &[Id],
) -> Result<Vec<Status>, ApiError> {
    let (posts, shunned) =
        tokio::try_join!(async { gw.posts.get_many(order).await.or_api() }, crate::visibility::shunned(gw, viewer))?;
    let posts = crate::visibility::visible(gw, viewer, crate::visibility::without(posts, &shunned)).await?;
    let mut by_id: HashMap<Id, Status> =
        statuses(gw, base, viewer, &posts).await?.into_iter().map(|s| (s.id, s)).collect();
    Ok(order.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Statuses from posts, the originals their boosts show, their already
/// fetched authors and the viewer's state.
pub fn assemble(
    base: &str,
    posts: &[PostRecord],
    originals: &HashMap<Id, PostRecord>,
    accounts: &HashMap<Id, Account>,
    viewer: &ViewerState,
) -> Vec<Status> {
    let shared: HashMap<Id, Arc<Account>> = accounts.iter().map(|(&id, a)| (id, Arc::new(a.clone()))).collect();
    let one = |p: &PostRecord| shared.get(&p.author_id).map(|a| status(base, p, a.clone(), viewer));
    posts
        .iter()
        .filter_map(|p| {
            let shell = one(p)?;
            match p.reblog_of_id {
                None => Some(shell),
                Some(o) => Some(boost(shell, one(originals.get(&o)?)?)),
            }
        })
        .collect()
}

pub async fn one_status(gw: &Gateway, base: &str, viewer: Option<Id>, post: &PostRecord) -> Result<Status, ApiError> {
    statuses(gw, base, viewer, std::slice::from_ref(post)).await?.pop().ok_or_else(ApiError::not_found)
}

/// Status as returned by delete: with the source `text` for redrafting.
pub fn with_source(mut s: Status, p: &PostRecord) -> Status {
    s.text = Some(p.text.clone());
    s
}

pub fn escape_html(s: &str) -> String {
    escape(s)
}
