//! The events components exchange, and the envelope they travel in.
//!
//! The envelope is the unit the outbox stores and the bus carries. `id` is
//! unique per event and is what consumers may use to recognise a redelivery;
//! the handlers in this code base are written so that a redelivery changes
//! nothing even without that check.

use crate::{Id, Visibility};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum Event {
    #[serde(rename = "account.created")]
    AccountCreated { account_id: Id, username: String },
    #[serde(rename = "follow.created")]
    FollowCreated { follower_id: Id, followee_id: Id },
    #[serde(rename = "follow.removed")]
    FollowRemoved { follower_id: Id, followee_id: Id },
    /// `follower_id` changed what it asked of an existing follow: whether
    /// `followee_id`'s boosts reach its home, whether it is notified of
    /// `followee_id`'s posts.
    #[serde(rename = "follow.updated")]
    FollowUpdated { follower_id: Id, followee_id: Id, show_reblogs: bool, notify: bool },
    /// `account_id` blocked `target_id` (the follows between them ended
    /// in the same transaction, each with its `follow.removed`).
    #[serde(rename = "block.created")]
    BlockCreated { account_id: Id, target_id: Id },
    #[serde(rename = "block.removed")]
    BlockRemoved { account_id: Id, target_id: Id },
    /// `account_id` muted `target_id` (its notifications too when
    /// `notifications`).
    #[serde(rename = "mute.created")]
    MuteCreated { account_id: Id, target_id: Id, notifications: bool },
    /// Unmuted, or the mute's time ran out.
    #[serde(rename = "mute.removed")]
    MuteRemoved { account_id: Id, target_id: Id },
    /// `follower_id` asked to follow the locked `followee_id`.
    #[serde(rename = "follow_request.created")]
    FollowRequestCreated { follower_id: Id, followee_id: Id },
    /// A new post. `mentions`: the local accounts it mentions (they see it
    /// whatever its visibility, and are notified); `tags`: its hashtags,
    /// normalized (their followers' homes receive a public post).
    #[serde(rename = "post.created")]
    PostCreated {
        post_id: Id,
        author_id: Id,
        visibility: Visibility,
        in_reply_to_account_id: Option<Id>,
        #[serde(default)]
        mentions: Vec<Id>,
        #[serde(default)]
        tags: Vec<String>,
    },
    /// The author edited the post: readers refresh what they hold of it.
    #[serde(rename = "post.updated")]
    PostUpdated { post_id: Id, author_id: Id },
    /// `tags`: the post's hashtags (normalized), whose followers' homes
    /// may hold it.
    #[serde(rename = "post.deleted")]
    PostDeleted {
        post_id: Id,
        author_id: Id,
        #[serde(default)]
        tags: Vec<String>,
    },
    /// `account_id` favourited `post_id`, written by `author_id`.
    #[serde(rename = "favourite.created")]
    FavouriteCreated { account_id: Id, post_id: Id, author_id: Id },
    #[serde(rename = "favourite.removed")]
    FavouriteRemoved { account_id: Id, post_id: Id, author_id: Id },
    /// `author_id` boosted `reblog_of_id` (written by `original_author_id`);
    /// the boost is post `post_id`, with its own visibility. Taking the
    /// boost back deletes that post (`post.deleted`).
    #[serde(rename = "reblog.created")]
    ReblogCreated { post_id: Id, author_id: Id, reblog_of_id: Id, original_author_id: Id, visibility: Visibility },
    /// `account_id` follows hashtag `tag` (normalized): its public posts
    /// reach the account's home from now on.
    #[serde(rename = "tag.followed")]
    TagFollowed { account_id: Id, tag: String },
    #[serde(rename = "tag.unfollowed")]
    TagUnfollowed { account_id: Id, tag: String },
    /// The poll of post `post_id` (by `author_id`) ended: its voters and
    /// author are told.
    #[serde(rename = "poll.ended")]
    PollEnded { post_id: Id, author_id: Id },
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self {
            Event::AccountCreated { .. } => "account.created",
            Event::FollowCreated { .. } => "follow.created",
            Event::FollowRemoved { .. } => "follow.removed",
            Event::FollowRequestCreated { .. } => "follow_request.created",
            Event::FollowUpdated { .. } => "follow.updated",
            Event::BlockCreated { .. } => "block.created",
            Event::BlockRemoved { .. } => "block.removed",
            Event::MuteCreated { .. } => "mute.created",
            Event::MuteRemoved { .. } => "mute.removed",
            Event::PostCreated { .. } => "post.created",
            Event::PostDeleted { .. } => "post.deleted",
            Event::PostUpdated { .. } => "post.updated",
            Event::FavouriteCreated { .. } => "favourite.created",
            Event::FavouriteRemoved { .. } => "favourite.removed",
            Event::ReblogCreated { .. } => "reblog.created",
            Event::TagFollowed { .. } => "tag.followed",
            Event::TagUnfollowed { .. } => "tag.unfollowed",
            Event::PollEnded { .. } => "poll.ended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: String,
    pub version: u32,
    pub occurred_at: String,
    pub producer: String,
    /// W3C `traceparent` of the request that caused the event, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(flatten)]
    pub event: Event,
}

impl Envelope {
    pub const VERSION: u32 = 1;

    pub fn new(producer: &str, event: Event) -> Self {
        Envelope {
            id: uuid::Uuid::new_v4().to_string(),
            version: Self::VERSION,
            occurred_at: crate::time_fmt::rfc3339_millis(crate::time_fmt::now_millis()),
            producer: producer.to_string(),
            traceparent: None,
            event,
        }
    }

    pub fn kind(&self) -> &'static str {
        self.event.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_with_type_and_payload() {
        let env = Envelope::new(
            "posts",
            Event::PostCreated {
                post_id: Id::from_i64(5),
                author_id: Id::from_i64(2),
                visibility: Visibility::Private,
                in_reply_to_account_id: None,
                mentions: vec![Id::from_i64(7)],
                tags: vec!["rust".into()],
            },
        );
        let json = serde_json::to_value(&env).unwrap();
        assert_eq!(json["type"], "post.created");
        assert_eq!(json["payload"]["post_id"], "5");
        assert_eq!(json["payload"]["visibility"], "private");
        assert_eq!(json["payload"]["mentions"][0], "7");
        let back: Envelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn a_post_created_before_mentions_were_kept_still_reads() {
        let old = r#"{"id":"x","version":1,"occurred_at":"2026-01-01T00:00:00.000Z","producer":"posts",
            "type":"post.created","payload":{"post_id":"5","author_id":"2","visibility":"public","in_reply_to_account_id":null}}"#;
        let env: Envelope = serde_json::from_str(old).unwrap();
        assert!(
            matches!(env.event, Event::PostCreated { ref mentions, ref tags, .. } if mentions.is_empty() && tags.is_empty())
        );
    }
}
