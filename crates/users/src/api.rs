//! The typed interface other components use to reach `users`.

use model::{Email, Id, Page, Password, Scopes, Username};
use rpc::ErrorKind;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    pub id: Id,
    pub username: String,
    pub display_name: String,
    pub note: String,
    pub locked: bool,
    pub bot: bool,
    pub followers_count: u64,
    pub following_count: u64,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    pub id: Id,
    pub name: String,
    pub website: Option<String>,
    pub redirect_uris: Vec<String>,
    pub scopes: Scopes,
    pub client_id: String,
}

/// What a bearer token proves: which application, which account (none for
/// a client-credentials token) and which scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthInfo {
    pub token_id: Id,
    pub app: AppRecord,
    pub account_id: Option<Id>,
    pub scopes: Scopes,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedToken {
    pub access_token: String,
    pub scopes: Scopes,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewApp {
    pub name: String,
    pub website: Option<String>,
    pub redirect_uris: Vec<String>,
    pub scopes: Scopes,
}

/// What an authorization code grants, and to whom.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    pub app_id: Id,
    pub account_id: Id,
    pub scopes: Scopes,
    pub redirect_uri: String,
    pub pkce: Option<crate::Pkce>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignUp {
    pub username: Username,
    pub email: Email,
    pub password: Password,
}

/// One row of a followers/following list: the follow's own id is the
/// pagination key, as in Mastodon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowEdge {
    pub follow_id: Id,
    pub account_id: Id,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationshipRecord {
    pub id: Id,
    pub following: bool,
    pub followed_by: bool,
    /// The viewer asked to follow this locked account and waits.
    #[serde(default)]
    pub requested: bool,
    /// This account asked to follow the viewer and waits.
    #[serde(default)]
    pub requested_by: bool,
    #[serde(default)]
    pub blocking: bool,
    #[serde(default)]
    pub blocked_by: bool,
    #[serde(default)]
    pub muting: bool,
    #[serde(default)]
    pub muting_notifications: bool,
    /// The followed (or requested) account's boosts reach the viewer's home.
    #[serde(default = "yes")]
    pub showing_reblogs: bool,
    /// The viewer is notified of the followed account's posts.
    #[serde(default)]
    pub notifying: bool,
}

fn yes() -> bool {
    true
}

impl RelationshipRecord {
    /// No relationship at all with `id`.
    pub fn none(id: Id) -> Self {
        RelationshipRecord {
            id,
            following: false,
            followed_by: false,
            requested: false,
            requested_by: false,
            blocking: false,
            blocked_by: false,
            muting: false,
            muting_notifications: false,
            showing_reblogs: false,
            notifying: false,
        }
    }
}

/// What the viewer asked of a follow (`POST /api/v1/accounts/:id/follow`'s
/// `reblogs` and `notify`); `None` leaves it as it is (new follows: boosts
/// shown, no notifications).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowOptions {
    pub reblogs: Option<bool>,
    pub notify: Option<bool>,
}

/// One row of a mutes list: as [`FollowEdge`], and when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MuteEdge {
    pub mute_id: Id,
    pub account_id: Id,
    pub expires_at_ms: Option<i64>,
}

/// What shapes an account's home timeline besides its follows: whom it
/// blocks, who blocks it, whom it mutes, and whose boosts it hides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineFilters {
    pub blocking: Vec<Id>,
    pub blocked_by: Vec<Id>,
    pub muting: Vec<Id>,
    pub hiding_reblogs: Vec<Id>,
}

impl TimelineFilters {
    /// Whether nothing is filtered: the common case, checked first.
    pub fn is_empty(&self) -> bool {
        self.blocking.is_empty()
            && self.blocked_by.is_empty()
            && self.muting.is_empty()
            && self.hiding_reblogs.is_empty()
    }

    /// Accounts whose posts, and boosts of whose posts, are hidden.
    pub fn hidden_accounts(&self) -> impl Iterator<Item = Id> + '_ {
        self.blocking.iter().chain(&self.blocked_by).chain(&self.muting).copied()
    }
}

/// An account's preferences, as `GET /api/v1/preferences` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    /// Visibility a new post gets when it names none.
    pub posting_visibility: model::Visibility,
    pub posting_sensitive: bool,
    pub posting_language: Option<String>,
    /// `default`, `show_all` or `hide_all`.
    pub expand_media: String,
    pub expand_spoilers: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("{0}")]
    Validation(String),
    #[error("record not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("Client authentication failed")]
    InvalidClient,
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0} has already been taken")]
    Conflict(String),
    #[error("users store unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type Result<T> = std::result::Result<T, UsersError>;

impl rpc::ComponentError for UsersError {
    fn kind(&self) -> ErrorKind {
        match self {
            UsersError::Validation(_) => ErrorKind::Validation,
            UsersError::NotFound => ErrorKind::NotFound,
            UsersError::Forbidden(_) => ErrorKind::Forbidden,
            UsersError::InvalidClient => ErrorKind::Unauthorized,
            UsersError::InvalidGrant(_) => ErrorKind::BadRequest,
            UsersError::Conflict(_) => ErrorKind::Conflict,
            UsersError::Unavailable(_) => ErrorKind::Unavailable,
            UsersError::Unexpected(_) => ErrorKind::Unexpected,
        }
    }
    fn detail(&self) -> String {
        match self {
            UsersError::Validation(m)
            | UsersError::Forbidden(m)
            | UsersError::InvalidGrant(m)
            | UsersError::Conflict(m)
            | UsersError::Unavailable(m) => m.clone(),
            other => other.to_string(),
        }
    }
    fn from_wire(kind: ErrorKind, detail: String) -> Self {
        match kind {
            ErrorKind::Validation => UsersError::Validation(detail),
            ErrorKind::NotFound => UsersError::NotFound,
            ErrorKind::Forbidden => UsersError::Forbidden(detail),
            ErrorKind::Unauthorized => UsersError::InvalidClient,
            ErrorKind::BadRequest => UsersError::InvalidGrant(detail),
            ErrorKind::Conflict => UsersError::Conflict(detail),
            ErrorKind::Unavailable => UsersError::Unavailable(detail),
            ErrorKind::Unexpected => UsersError::Unexpected(anyhow::anyhow!("users: {detail}")),
        }
    }
}

/// What `users` answers. Declared once: the remote client, the internal
/// dispatcher and [`ForwardUsers`] are generated from it.
#[rpc::component_api(component = "users", remote = RemoteUsers, forward = ForwardUsers)]
pub trait UsersApi: Send + Sync + 'static {
    // OAuth applications and tokens.
    #[write]
    async fn create_app(&self, app: NewApp) -> Result<(AppRecord, String)>;
    /// The app whose `client_id` and `client_secret` both match.
    #[read]
    async fn authenticate_client(&self, client_id: &str, client_secret: &str) -> Result<AppRecord>;
    #[read]
    async fn app_by_client_id(&self, client_id: &str) -> Result<AppRecord>;
    #[write]
    async fn issue_token(&self, app_id: Id, account_id: Option<Id>, scopes: Scopes) -> Result<IssuedToken>;
    /// `None` when the token is unknown or revoked.
    #[read]
    async fn authenticate(&self, token: &str) -> Result<Option<AuthInfo>>;
    #[write]
    async fn revoke_token(&self, app_id: Id, token: &str) -> Result<()>;
    /// A code for the authorization-code grant, bound to `pkce`'s challenge
    /// when the request carried one.
    #[write]
    async fn create_auth_code(&self, grant: CodeGrant) -> Result<String>;
    /// Consumes a code (single use, 10 minutes) and returns its account and
    /// scopes. A code issued with a PKCE challenge needs the verifier that
    /// answers it.
    #[write]
    async fn redeem_auth_code(
        &self,
        app_id: Id,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<String>,
    ) -> Result<(Id, Scopes)>;

    // Accounts.
    #[write]
    async fn sign_up(&self, sign_up: SignUp) -> Result<AccountRecord>;
    /// Checks a password for a login given as e-mail or username.
    #[read]
    async fn check_password(&self, login: &str, password: &str) -> Result<Option<Id>>;
    /// The accounts that exist among `ids`, in no particular order.
    #[read]
    async fn accounts(&self, ids: &[Id]) -> Result<Vec<AccountRecord>>;
    #[read]
    async fn lookup(&self, username: &str) -> Result<Option<AccountRecord>>;
    #[write]
    /// Changes what is given (`None`: kept). `locked`: follows must be
    /// asked for from now on.
    async fn update_profile(
        &self,
        id: Id,
        display_name: Option<String>,
        note: Option<String>,
        locked: Option<bool>,
    ) -> Result<AccountRecord>;
    #[read]
    async fn account_count(&self) -> Result<u64>;
    /// `account`'s preferences; `NotFound` when there is no such account.
    #[read]
    async fn preferences(&self, account: Id) -> Result<Preferences>;

    // Follows.
    #[write]
    /// Follows `followee` at once, or asks to when it is locked (a
    /// request it authorizes or rejects); again changes nothing.
    async fn follow(&self, follower: Id, followee: Id) -> Result<RelationshipRecord>;
    /// The accounts waiting for `account` to answer their follow requests,
    /// newest first, keyset-paged by request id.
    #[read]
    async fn follow_requests(&self, account: Id, page: &Page) -> Result<Vec<FollowEdge>>;
    /// How many follow requests wait for `account`'s answer.
    #[read]
    async fn follow_request_count(&self, account: Id) -> Result<u64>;
    /// `account` authorizes (`accept`) or rejects `requester`'s request;
    /// `NotFound` when there is none. The relationship as `account` sees it.
    #[write]
    async fn answer_follow_request(&self, account: Id, requester: Id, accept: bool) -> Result<RelationshipRecord>;
    #[write]
    async fn unfollow(&self, follower: Id, followee: Id) -> Result<RelationshipRecord>;
    #[read]
    async fn relationships(&self, viewer: Id, ids: &[Id]) -> Result<Vec<RelationshipRecord>>;
    #[read]
    async fn followers(&self, account: Id, page: &Page) -> Result<Vec<FollowEdge>>;
    #[read]
    async fn following(&self, account: Id, page: &Page) -> Result<Vec<FollowEdge>>;
    /// Every follower, for fan-out.
    #[read]
    async fn follower_ids(&self, account: Id) -> Result<Vec<Id>>;
    /// The followers who asked to be notified of `account`'s posts
    /// (`notify` on their follow).
    #[read]
    async fn notified_followers(&self, account: Id) -> Result<Vec<Id>>;
    /// Every followed account, for timeline rebuilds.
    #[read]
    async fn following_ids(&self, account: Id) -> Result<Vec<Id>>;
    #[read]
    async fn is_following(&self, follower: Id, followee: Id) -> Result<bool>;
    /// Sets what `follower` asks of its follow (or pending request) of
    /// `followee`; without either, changes nothing. The relationship.
    #[write]
    async fn set_follow_options(
        &self,
        follower: Id,
        followee: Id,
        options: FollowOptions,
    ) -> Result<RelationshipRecord>;

    // Blocks and mutes.
    /// `account` blocks (`on`) or unblocks `target`; a block ends the
    /// follows and follow requests between them. Again changes nothing.
    #[write]
    async fn block(&self, account: Id, target: Id, on: bool) -> Result<RelationshipRecord>;
    /// `account` mutes `target` (its notifications too when
    /// `notifications`) until `expires_at_ms` (`None`: until unmuted);
    /// muting again updates both.
    #[write]
    async fn mute(
        &self,
        account: Id,
        target: Id,
        notifications: bool,
        expires_at_ms: Option<i64>,
    ) -> Result<RelationshipRecord>;
    #[write]
    async fn unmute(&self, account: Id, target: Id) -> Result<RelationshipRecord>;
    /// `account`'s blocks, newest first, keyset-paged by block id.
    #[read]
    async fn blocks(&self, account: Id, page: &Page) -> Result<Vec<FollowEdge>>;
    /// `account`'s mutes, newest first, keyset-paged by mute id.
    #[read]
    async fn mutes(&self, account: Id, page: &Page) -> Result<Vec<MuteEdge>>;
    /// What filters `account`'s home timeline: one statement.
    #[read]
    async fn timeline_filters(&self, account: Id) -> Result<TimelineFilters>;
    /// Who must not find `author`'s post — or, with `boosted` (the boosted
    /// post's author), `author`'s boost — in their home timeline: whoever
    /// blocks or mutes either, whom either blocks, and for a boost whoever
    /// hides `author`'s boosts.
    #[read]
    async fn unreached(&self, author: Id, boosted: Option<Id>) -> Result<Vec<Id>>;
    /// Ends the mutes whose time ran out (each with its `mute.removed`);
    /// how many. Run now and then by every `users` instance.
    #[write]
    async fn expire_mutes(&self) -> Result<u64>;
}
