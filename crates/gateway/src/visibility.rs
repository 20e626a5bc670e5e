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

/// Keeps the posts `viewer` may see: public and unlisted to anyone, private
/// to the author and their followers. One relationship lookup per page.
pub async fn visible(gw: &Gateway, viewer: Option<Id>, posts: Vec<PostRecord>) -> Result<Vec<PostRecord>, ApiError> {
    let private_authors: Vec<Id> = posts
        .iter()
        .filter(|p| p.visibility == Visibility::Private && Some(p.author_id) != viewer)
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
        .filter(|p| {
            p.visibility != Visibility::Private || Some(p.author_id) == viewer || followed.contains(&p.author_id)
        })
        .collect())
}
