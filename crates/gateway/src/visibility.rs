//! Who may see what: the one place the gateway decides it, asked by every
//! route that shows statuses (and by every feature that will: boosts,
//! notifications, search). A post a viewer may not see answers 404 where it
//! is asked for by id, never 403, so its existence is not revealed.

use crate::Gateway;
use crate::errors::OrApi;
use model::{Id, Visibility};
use platform::ApiError;
use posts::PostRecord;
use std::collections::HashSet;

/// Whether `viewer` sees `author`'s private posts: the author and their
/// followers do.
pub async fn sees_private_of(gw: &Gateway, viewer: Option<Id>, author: Id) -> Result<bool, ApiError> {
    match viewer {
        Some(v) if v == author => Ok(true),
        Some(v) => gw.users.is_following(v, author).await.or_api(),
        None => Ok(false),
    }
}

/// Whether `viewer` is the author of `p` or mentioned in it: then it sees
/// `p` whatever its visibility.
fn addressed(p: &PostRecord, viewer: Option<Id>) -> bool {
    viewer.is_some_and(|v| v == p.author_id || p.mentions(v))
}

/// Keeps the posts `viewer` may see: public and unlisted to anyone, private
/// to the author's followers, and any post to its author and the accounts
/// it mentions (direct posts to them only). One relationship lookup per page.
pub async fn visible(gw: &Gateway, viewer: Option<Id>, posts: Vec<PostRecord>) -> Result<Vec<PostRecord>, ApiError> {
    let private_authors: Vec<Id> = posts
        .iter()
        .filter(|p| p.visibility == Visibility::Private && !addressed(p, viewer))
        .map(|p| p.author_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let followed: HashSet<Id> = match (viewer, private_authors.is_empty()) {
        (Some(v), false) => gw
            .users
            .relationships(v, &private_authors)
            .await
            .or_api()?
            .into_iter()
            .filter(|r| r.following)
            .map(|r| r.id)
            .collect(),
        _ => HashSet::new(),
    };
    Ok(posts
        .into_iter()
        .filter(|p| match p.visibility {
            Visibility::Public | Visibility::Unlisted => true,
            Visibility::Private => addressed(p, viewer) || followed.contains(&p.author_id),
            Visibility::Direct => addressed(p, viewer),
        })
        .collect())
}

/// Whom `viewer` does not see in threads, timelines and lists: the
/// accounts it blocks, that block it, and that it mutes. One `users` call;
/// none for an anonymous viewer.
pub async fn shunned(gw: &Gateway, viewer: Option<Id>) -> Result<HashSet<Id>, ApiError> {
    let Some(v) = viewer else { return Ok(HashSet::new()) };
    Ok(gw.users.timeline_filters(v).await.or_api()?.hidden_accounts().collect())
}

/// `posts` less those by `shunned` accounts and boosts of their posts.
pub fn without(posts: Vec<PostRecord>, shunned: &HashSet<Id>) -> Vec<PostRecord> {
    if shunned.is_empty() {
        return posts;
    }
    posts
        .into_iter()
        .filter(|p| !shunned.contains(&p.author_id) && !p.reblog_of_account_id.is_some_and(|a| shunned.contains(&a)))
        .collect()
}

/// Whether `author` blocks `viewer`: its posts are then not found by id.
pub async fn blocked_by(gw: &Gateway, viewer: Option<Id>, author: Id) -> Result<bool, ApiError> {
    match viewer {
        Some(v) if v != author => {
            Ok(gw.users.relationships(v, &[author]).await.or_api()?.first().is_some_and(|r| r.blocked_by))
        }
        _ => Ok(false),
    }
}
