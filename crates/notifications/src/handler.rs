//! Event handling for `notifications`. Each branch is idempotent and
//! re-checks the current state at the source (`users`, `posts`), so a
//! redelivered or late event — a `follow.created` arriving after the
//! unfollow, a `favourite.created` after the unfavourite, a
//! `post.created` after the deletion — neither duplicates nor resurrects a
//! notification. None is recorded for one's own action, from an account
//! the recipient blocks or that blocks it, from one it muted with its
//! notifications, or about a conversation it muted.

use crate::service::cause;
use crate::{NotificationType, NotificationsService};
use async_trait::async_trait;
use bus::{Handler, Subscription};
use model::{Envelope, Event, Id, Visibility};

pub struct NotificationsHandler {
    service: NotificationsService,
}

impl NotificationsHandler {
    pub fn new(service: NotificationsService) -> Self {
        NotificationsHandler { service }
    }

    pub fn subscription() -> Subscription {
        Subscription::new(
            NotificationsService::COMPONENT,
            &["follow.*", "follow_request.*", "favourite.*", "reblog.*", "post.*", "poll.*"],
        )
    }

    /// Whether `recipient` hears of `actor`'s action (about `post`): not
    /// its own, no block either way, no mute of the actor's
    /// notifications, no mute of the post's conversation.
    async fn heard(&self, recipient: Id, actor: Id, post: Option<Id>) -> anyhow::Result<bool> {
        let s = &self.service;
        if recipient == actor {
            return Ok(false);
        }
        let relation = s.users.relationships(recipient, &[actor]).await?;
        if relation.first().is_some_and(|r| r.blocking || r.blocked_by || r.muting_notifications) {
            return Ok(false);
        }
        match post {
            Some(p) => Ok(s.posts.viewer_marks(recipient, &[p]).await?.muted.is_empty()),
            None => Ok(true),
        }
    }
}

#[async_trait]
impl Handler for NotificationsHandler {
    async fn handle(&self, envelope: &Envelope) -> anyhow::Result<()> {
        let s = &self.service;
        match &envelope.event {
            Event::FollowCreated { follower_id: f, followee_id: e } => {
                // A request answered becomes a follow: its notification goes.
                s.remove_cause(&cause::follow_request(*f, *e)).await?;
                if s.users.is_following(*f, *e).await? && self.heard(*e, *f, None).await? {
                    s.record(NotificationType::Follow, *e, *f, None, &cause::follow(*f, *e)).await?;
                }
            }
            // Only if the follow is still gone (not made again since).
            Event::FollowRemoved { follower_id: f, followee_id: e } if !s.users.is_following(*f, *e).await? => {
                s.remove_cause(&cause::follow(*f, *e)).await?;
            }
            Event::FollowRequestCreated { follower_id: f, followee_id: e } => {
                let waiting = s.users.relationships(*e, &[*f]).await?.first().is_some_and(|r| r.requested_by);
                if waiting && self.heard(*e, *f, None).await? {
                    s.record(NotificationType::FollowRequest, *e, *f, None, &cause::follow_request(*f, *e)).await?;
                }
            }
            Event::FavouriteCreated { account_id, post_id, author_id } => {
                let still = s.posts.viewer_marks(*account_id, &[*post_id]).await?.favourited.contains(post_id);
                if still && self.heard(*author_id, *account_id, Some(*post_id)).await? {
                    let c = cause::favourite(*account_id, *post_id);
                    s.record(NotificationType::Favourite, *author_id, *account_id, Some(*post_id), &c).await?;
                }
            }
            // Only if the favourite is still gone (not made again since).
            Event::FavouriteRemoved { account_id, post_id, .. }
                if !s.posts.viewer_marks(*account_id, &[*post_id]).await?.favourited.contains(post_id) =>
            {
                s.remove_cause(&cause::favourite(*account_id, *post_id)).await?;
            }
            // About the boosted post, as Mastodon shows it; named by the
            // boost, and only while the boost exists.
            Event::ReblogCreated { post_id, author_id, reblog_of_id, original_author_id, .. }
                if s.posts.get(*post_id).await?.is_some()
                    && self.heard(*original_author_id, *author_id, Some(*reblog_of_id)).await? =>
            {
                let c = cause::reblog(*post_id);
                s.record(NotificationType::Reblog, *original_author_id, *author_id, Some(*reblog_of_id), &c).await?;
            }
            // Its mentions, and the followers who asked to hear of the
            // author's posts (not of replies to others, nor direct ones; a
            // mentioned follower hears of it once) — only while the post
            // exists (a late event after its deletion adds nothing), which
            // is asked only when someone is to be told.
            Event::PostCreated { post_id, author_id, mentions, visibility, in_reply_to_account_id, .. } => {
                let to_all =
                    *visibility != Visibility::Direct && in_reply_to_account_id.is_none_or(|r| r == *author_id);
                let mut followers = if to_all { s.users.notified_followers(*author_id).await? } else { Vec::new() };
                followers.retain(|f| !mentions.contains(f));
                if (mentions.is_empty() && followers.is_empty()) || s.posts.get(*post_id).await?.is_none() {
                    return Ok(());
                }
                for &m in mentions {
                    if self.heard(m, *author_id, Some(*post_id)).await? {
                        let c = cause::mention(*post_id, m);
                        s.record(NotificationType::Mention, m, *author_id, Some(*post_id), &c).await?;
                    }
                }
                for f in followers {
                    if self.heard(f, *author_id, None).await? {
                        let c = cause::status(*post_id, f);
                        s.record(NotificationType::Status, f, *author_id, Some(*post_id), &c).await?;
                    }
                }
            }
            // An edit tells those who boosted the post, while it exists.
            Event::PostUpdated { post_id, author_id } => {
                let boosters = s.posts.booster_ids(*post_id).await?;
                if boosters.is_empty() || s.posts.get(*post_id).await?.is_none() {
                    return Ok(());
                }
                for b in boosters {
                    if self.heard(b, *author_id, Some(*post_id)).await? {
                        let c = cause::update(*post_id, b, &envelope.id);
                        s.record(NotificationType::Update, b, *author_id, Some(*post_id), &c).await?;
                    }
                }
            }
            // Its voters hear that it ended, and so does its author (the
            // one notification of one's own doing).
            Event::PollEnded { post_id, author_id } if s.posts.get(*post_id).await?.is_some() => {
                let mut told = s.posts.poll_voters(*post_id).await?;
                told.retain(|v| v != author_id);
                for v in told {
                    if self.heard(v, *author_id, Some(*post_id)).await? {
                        let c = cause::poll(*post_id, v);
                        s.record(NotificationType::Poll, v, *author_id, Some(*post_id), &c).await?;
                    }
                }
                let c = cause::poll(*post_id, *author_id);
                s.record(NotificationType::Poll, *author_id, *author_id, Some(*post_id), &c).await?;
            }
            Event::PostDeleted { post_id, .. } => s.remove_status(*post_id).await?,
            _ => {}
        }
        Ok(())
    }
}
