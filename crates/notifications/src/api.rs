//! The typed interface other components use to reach `notifications`.

use model::Id;
use rpc::ErrorKind;
use serde::{Deserialize, Serialize};

/// What a notification is about, as Mastodon names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationType {
    /// Someone followed the account.
    Follow,
    /// Someone asked to follow the (locked) account.
    FollowRequest,
    /// Someone favourited one of the account's posts.
    Favourite,
    /// Someone boosted one of the account's posts.
    Reblog,
    /// Someone mentioned the account in a post.
    Mention,
    /// A poll the account voted in, or wrote, ended.
    Poll,
    /// An account it follows with `notify` posted.
    Status,
    /// A post it boosted was edited.
    Update,
}

impl NotificationType {
    pub const ALL: [NotificationType; 8] = [
        NotificationType::Follow,
        NotificationType::FollowRequest,
        NotificationType::Favourite,
        NotificationType::Reblog,
        NotificationType::Mention,
        NotificationType::Poll,
        NotificationType::Status,
        NotificationType::Update,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::Follow => "follow",
            NotificationType::FollowRequest => "follow_request",
            NotificationType::Favourite => "favourite",
            NotificationType::Reblog => "reblog",
            NotificationType::Mention => "mention",
            NotificationType::Poll => "poll",
            NotificationType::Status => "status",
            NotificationType::Update => "update",
        }
    }

    /// The type Mastodon calls `name`; `None` for one this server does not
    /// record (clients ask for types by name, and Mastodon ignores unknown ones).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    pub id: Id,
    /// Whom it notifies.
    pub account_id: Id,
    pub kind: NotificationType,
    /// Whose action caused it.
    pub from_account_id: Id,
    pub status_id: Option<Id>,
    pub created_at_ms: i64,
}

/// The timelines a client keeps its reading position in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MarkerTimeline {
    Home,
    Notifications,
}

impl MarkerTimeline {
    pub const ALL: [MarkerTimeline; 2] = [MarkerTimeline::Home, MarkerTimeline::Notifications];

    pub fn as_str(self) -> &'static str {
        match self {
            MarkerTimeline::Home => "home",
            MarkerTimeline::Notifications => "notifications",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// Where an account stopped reading a timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkerRecord {
    pub timeline: MarkerTimeline,
    pub last_read_id: Id,
    /// Counts the marker's changes (Mastodon's `version`).
    pub version: u64,
    pub updated_at_ms: i64,
}

/// Which notifications a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationFilter {
    /// Only these types (`types[]`); `None`: every type.
    pub types: Option<Vec<NotificationType>>,
    /// Not these types (`exclude_types[]`).
    pub exclude_types: Vec<NotificationType>,
    /// Only those caused by this account (`account_id`).
    pub from_account: Option<Id>,
}

impl NotificationFilter {
    /// The types the filter lets through.
    pub fn kinds(&self) -> Vec<NotificationType> {
        NotificationType::ALL
            .into_iter()
            .filter(|t| self.types.as_ref().is_none_or(|only| only.contains(t)) && !self.exclude_types.contains(t))
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    #[error("record not found")]
    NotFound,
    /// A marker changed between its read and its write (two clients at
    /// once): the caller may try again.
    #[error("Conflict during update, please try again")]
    Conflict,
    #[error("notifications store unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type Result<T> = std::result::Result<T, NotificationsError>;

impl rpc::ComponentError for NotificationsError {
    fn kind(&self) -> ErrorKind {
        match self {
            NotificationsError::NotFound => ErrorKind::NotFound,
            NotificationsError::Conflict => ErrorKind::Conflict,
            NotificationsError::Unavailable(_) => ErrorKind::Unavailable,
            NotificationsError::Unexpected(_) => ErrorKind::Unexpected,
        }
    }
    fn detail(&self) -> String {
        match self {
            NotificationsError::Unavailable(m) => m.clone(),
            other => other.to_string(),
        }
    }
    fn from_wire(kind: ErrorKind, detail: String) -> Self {
        match kind {
            ErrorKind::NotFound => NotificationsError::NotFound,
            ErrorKind::Conflict => NotificationsError::Conflict,
            ErrorKind::Unavailable => NotificationsError::Unavailable(detail),
            _ => NotificationsError::Unexpected(anyhow::anyhow!("notifications: {detail}")),
        }
    }
}

/// What `notifications` answers. Declared once: the remote client and the
/// internal dispatcher are generated from it.
#[rpc::component_api(component = "notifications", remote = RemoteNotifications)]
pub trait NotificationsApi: Send + Sync + 'static {
    /// `account`'s notifications that `filter` lets through, newest first.
    #[read]
    async fn list(
        &self,
        account: Id,
        filter: &NotificationFilter,
        page: &model::Page,
    ) -> Result<Vec<NotificationRecord>>;
    /// One of `account`'s notifications; `None` for anyone else's.
    #[read]
    async fn get(&self, account: Id, id: Id) -> Result<Option<NotificationRecord>>;
    /// Removes one of `account`'s notifications; `NotFound` for anyone else's.
    #[write]
    async fn dismiss(&self, account: Id, id: Id) -> Result<()>;
    /// Removes all of `account`'s notifications.
    #[write]
    async fn clear(&self, account: Id) -> Result<()>;
    /// How many of `account`'s notifications that `filter` lets through
    /// are newer than its `notifications` marker, counting up to `limit`.
    #[read]
    async fn unread_count(&self, account: Id, filter: &NotificationFilter, limit: u64) -> Result<u64>;
    /// `account`'s markers of `timelines` (those it never set are absent).
    #[read]
    async fn markers(&self, account: Id, timelines: &[MarkerTimeline]) -> Result<Vec<MarkerRecord>>;
    /// Sets `account`'s markers to the ids given, each a new version; a
    /// marker changed meanwhile by another request is `Conflict`. The
    /// markers as they now are.
    #[write]
    async fn set_markers(&self, account: Id, positions: &[(MarkerTimeline, Id)]) -> Result<Vec<MarkerRecord>>;
}
