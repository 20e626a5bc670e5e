//! The Mastodon entities the public API returns, field for field as the
//! `mastodon/documentation` repository (`content/en/entities/*.md`) lists
//! them. Fields Aviary has no feature for yet carry their documented empty
//! value (`[]`, `null`, `false`) so that typed clients parse them.

use crate::Id;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: Id,
    pub username: String,
    pub acct: String,
    pub url: String,
    pub uri: String,
    pub display_name: String,
    pub note: String,
    pub avatar: String,
    pub avatar_static: String,
    pub header: String,
    pub header_static: String,
    pub locked: bool,
    pub fields: Vec<Value>,
    pub emojis: Vec<Value>,
    pub bot: bool,
    pub group: bool,
    pub discoverable: Option<bool>,
    pub indexable: bool,
    pub noindex: Option<bool>,
    pub created_at: String,
    pub last_status_at: Option<String>,
    pub statuses_count: u64,
    pub followers_count: u64,
    pub following_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// In `GET /api/v1/mutes`: when the viewer's mute of the account ends
    /// (null: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mute_expires_at: Option<Option<String>>,
}

/// `content/en/entities/Notification.md`: something that happened to the
/// account, caused by `account`.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub id: Id,
    pub r#type: &'static str,
    /// Mastodon 4.3's grouping key; `ungrouped-<id>` for a notification that
    /// is not grouped with others.
    pub group_key: String,
    pub created_at: String,
    pub account: Account,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

/// Present only on the caller's own account (`verify_credentials`).
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub privacy: &'static str,
    pub sensitive: bool,
    pub language: Option<String>,
    pub note: String,
    pub fields: Vec<Value>,
    pub follow_requests_count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Relationship {
    pub id: Id,
    pub following: bool,
    pub showing_reblogs: bool,
    pub notifying: bool,
    pub languages: Option<Vec<String>>,
    pub followed_by: bool,
    pub blocking: bool,
    pub blocked_by: bool,
    pub muting: bool,
    pub muting_notifications: bool,
    pub requested: bool,
    pub requested_by: bool,
    pub domain_blocking: bool,
    pub endorsed: bool,
    pub note: String,
}

impl Relationship {
    pub fn new(id: Id, following: bool, followed_by: bool) -> Self {
        Relationship {
            id,
            following,
            showing_reblogs: following,
            notifying: false,
            languages: None,
            followed_by,
            blocking: false,
            blocked_by: false,
            muting: false,
            muting_notifications: false,
            requested: false,
            requested_by: false,
            domain_blocking: false,
            endorsed: false,
            note: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub id: Id,
    pub uri: String,
    pub url: String,
    pub created_at: String,
    pub edited_at: Option<String>,
    /// Shared: a page holds each author once, however many of its
    /// statuses are theirs.
    pub account: std::sync::Arc<Account>,
    pub content: String,
    pub text: Option<String>,
    pub visibility: &'static str,
    pub sensitive: bool,
    pub spoiler_text: String,
    pub media_attachments: Vec<Value>,
    pub application: Option<StatusApplication>,
    pub mentions: Vec<StatusMention>,
    pub tags: Vec<StatusTag>,
    pub emojis: Vec<Value>,
    pub reblogs_count: u64,
    pub favourites_count: u64,
    pub replies_count: u64,
    pub in_reply_to_id: Option<Id>,
    pub in_reply_to_account_id: Option<Id>,
    pub reblog: Option<Box<Status>>,
    pub poll: Option<Poll>,
    pub card: Option<Value>,
    pub language: Option<String>,
    pub favourited: bool,
    pub reblogged: bool,
    pub muted: bool,
    pub bookmarked: bool,
    pub pinned: bool,
    pub filtered: Vec<Value>,
}

/// `content/en/entities/Poll.md`.
#[derive(Debug, Clone, Serialize)]
pub struct Poll {
    pub id: Id,
    pub expires_at: Option<String>,
    pub expired: bool,
    pub multiple: bool,
    pub votes_count: u64,
    /// Accounts that voted; `null` for a single-choice poll, as Mastodon.
    pub voters_count: Option<u64>,
    pub options: Vec<PollOption>,
    pub emojis: Vec<Value>,
    /// Only with a user token: whether, and how, that account voted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_votes: Option<Vec<u32>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PollOption {
    pub title: String,
    /// `null` while the totals are hidden.
    pub votes_count: Option<u64>,
}

/// `Status.mentions[]`: an account the status mentions.
#[derive(Debug, Clone, Serialize)]
pub struct StatusMention {
    pub id: Id,
    pub username: String,
    pub url: String,
    pub acct: String,
}

/// `Status.tags[]`: a hashtag the status uses.
#[derive(Debug, Clone, Serialize)]
pub struct StatusTag {
    pub name: String,
    pub url: String,
}

/// `content/en/entities/Tag.md`: a hashtag with its use over the last days.
#[derive(Debug, Clone, Serialize)]
pub struct Tag {
    pub name: String,
    pub url: String,
    pub history: Vec<TagHistory>,
    pub following: bool,
}

/// One day of a hashtag's use: numbers as strings, as Mastodon sends them.
#[derive(Debug, Clone, Serialize)]
pub struct TagHistory {
    /// The day's midnight (UTC), in seconds since the epoch.
    pub day: String,
    pub uses: String,
    pub accounts: String,
}

/// `content/en/entities/Conversation.md`: a direct conversation as one
/// participant sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    pub id: Id,
    pub unread: bool,
    /// The other participants.
    pub accounts: Vec<Account>,
    pub last_status: Option<Status>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusApplication {
    pub name: String,
    pub website: Option<String>,
}

/// One version of a status (`GET /api/v1/statuses/:id/history`).
#[derive(Debug, Clone, Serialize)]
pub struct StatusEdit {
    pub content: String,
    pub spoiler_text: String,
    pub sensitive: bool,
    pub created_at: String,
    pub account: Account,
    pub media_attachments: Vec<serde_json::Value>,
    pub emojis: Vec<serde_json::Value>,
}

/// What a status was written as, for editing (`GET /api/v1/statuses/:id/source`).
#[derive(Debug, Clone, Serialize)]
pub struct StatusSource {
    pub id: Id,
    pub text: String,
    pub spoiler_text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Context {
    pub ancestors: Vec<Status>,
    pub descendants: Vec<Status>,
}

/// `POST /api/v1/apps` answers with the secret; `verify_credentials` without.
#[derive(Debug, Clone, Serialize)]
pub struct Application {
    pub id: Id,
    pub name: String,
    pub website: Option<String>,
    pub scopes: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub redirect_uri: String,
    pub vapid_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Token {
    pub access_token: String,
    pub token_type: &'static str,
    pub scope: String,
    pub created_at: i64,
}
