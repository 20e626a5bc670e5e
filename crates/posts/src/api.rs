//! The typed interface other components use to reach `posts`.

use model::{Id, Page, PostText, Visibility};
use rpc::ErrorKind;
use serde::{Deserialize, Serialize};

/// A local account a post mentions, as resolved when it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Mentioned {
    pub id: Id,
    pub username: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostRecord {
    pub id: Id,
    pub author_id: Id,
    pub text: String,
    pub spoiler_text: String,
    pub sensitive: bool,
    pub visibility: Visibility,
    pub language: Option<String>,
    pub in_reply_to_id: Option<Id>,
    pub in_reply_to_account_id: Option<Id>,
    pub app_name: Option<String>,
    pub app_website: Option<String>,
    pub replies_count: u64,
    /// Absent in records cached before favourites existed.
    #[serde(default)]
    pub favourites_count: u64,
    /// The thread's root; `None` in records from before conversations
    /// were kept (the post is then its own).
    #[serde(default)]
    pub conversation_id: Option<Id>,
    /// When the author last edited it.
    #[serde(default)]
    pub edited_at_ms: Option<i64>,
    /// The boosted post, when this post is a boost (its text is empty).
    #[serde(default)]
    pub reblog_of_id: Option<Id>,
    /// The boosted post's author.
    #[serde(default)]
    pub reblog_of_account_id: Option<Id>,
    #[serde(default)]
    pub reblogs_count: u64,
    /// The local accounts the text mentions (they may see the post
    /// whatever its visibility).
    #[serde(default)]
    pub mentions: Vec<Mentioned>,
    /// Its hashtags as written, each once.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Its poll (whose id is the post's), if it has one.
    #[serde(default)]
    pub poll: Option<PollRecord>,
    pub created_at_ms: i64,
}

/// A poll as stored with its post: the options with their counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollRecord {
    pub options: Vec<PollOption>,
    pub multiple: bool,
    pub hide_totals: bool,
    pub expires_at_ms: i64,
    /// Votes, one per choice made.
    pub votes_count: u64,
    /// Accounts that voted.
    pub voters_count: u64,
    /// The poll ended and `poll.ended` was sent (it refuses votes from its
    /// end on, sent or not).
    #[serde(default)]
    pub closed: bool,
}

impl PollRecord {
    /// Whether the poll has ended at `now_ms`.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.closed || now_ms >= self.expires_at_ms
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollOption {
    pub title: String,
    pub votes: u64,
}

/// A poll as a new post or an edit asks for it; the caller checked it
/// against the instance's limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPoll {
    pub options: Vec<String>,
    pub expires_in_secs: i64,
    pub multiple: bool,
    pub hide_totals: bool,
}

impl NewPoll {
    /// What `posts` accepts whatever the instance allows.
    pub const MAX_OPTIONS: usize = 20;
    pub const MAX_OPTION_CHARS: usize = 200;
}

impl PostRecord {
    /// Whether the post mentions `account`.
    pub fn mentions(&self, account: Id) -> bool {
        self.mentions.iter().any(|m| m.id == account)
    }
}

/// Which of an author's posts `by_author` lists (Mastodon's account
/// statuses filters).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorFilter {
    /// Private posts too (for the author and followers).
    pub include_private: bool,
    /// Leave out replies to others (self-replies, i.e. threads, stay, as
    /// in Mastodon).
    pub exclude_replies: bool,
    /// Leave out the author's boosts.
    #[serde(default)]
    pub exclude_reblogs: bool,
    /// Direct posts too, those that this account wrote or is mentioned in.
    #[serde(default)]
    pub direct_for: Option<Id>,
    /// Only posts with this hashtag (normalized).
    #[serde(default)]
    pub tagged: Option<String>,
}

impl AuthorFilter {
    /// What a first page's cache key names.
    pub fn key(&self) -> String {
        format!(
            "{}{}{}{}{}",
            u8::from(self.include_private),
            u8::from(self.exclude_replies),
            u8::from(self.exclude_reblogs),
            self.direct_for.map(|v| format!(":{v}")).unwrap_or_default(),
            // Tags are hashtag characters only: no `:` to be confused with.
            self.tagged.as_ref().map(|t| format!("#{t}")).unwrap_or_default(),
        )
    }
}

/// What an edit changes (`PUT /api/v1/statuses/:id`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PostEdit {
    pub text: PostText,
    pub spoiler_text: String,
    pub sensitive: bool,
    pub language: Option<String>,
    /// The local accounts the new text mentions, resolved by the caller.
    #[serde(default)]
    pub mentions: Vec<Mentioned>,
    /// The poll it has after the edit: new options (or `multiple`) reset
    /// its votes, as Mastodon does; `None` removes it.
    #[serde(default)]
    pub poll: Option<NewPoll>,
}

/// One version of a post, as its history lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostVersion {
    pub text: String,
    pub spoiler_text: String,
    pub sensitive: bool,
    pub created_at_ms: i64,
}

/// What an account can mark a post with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mark {
    /// Public: counted on the post, listed in `favourited_by`, an event
    /// per change (the author is notified).
    Favourite,
    /// Private to the account: no count, no event.
    Bookmark,
    /// The author's own post featured on their profile: public, at most
    /// [`Mark::MAX_PINS`], and only public, unlisted or private posts.
    Pin,
}

impl Mark {
    pub const MAX_PINS: u64 = 5;
}

/// One mark: its id (the cursor its list pages by), who and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marked {
    pub id: Id,
    pub account_id: Id,
    pub post_id: Id,
}

/// Which posts of a page a viewer has marked, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerMarks {
    pub favourited: Vec<Id>,
    pub bookmarked: Vec<Id>,
    /// Absent from answers of instances without pins (mid-upgrade).
    #[serde(default)]
    pub pinned: Vec<Id>,
    /// Posts in conversations the viewer muted.
    #[serde(default)]
    pub muted: Vec<Id>,
    /// Posts the viewer boosted.
    #[serde(default)]
    pub reblogged: Vec<Id>,
    /// The viewer's choices in the polls of the page: (post, choice).
    #[serde(default)]
    pub votes: Vec<(Id, u32)>,
}

/// The little a timeline needs to know about a post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostRef {
    pub post_id: Id,
    pub author_id: Id,
    pub in_reply_to_account_id: Option<Id>,
    /// The boosted post and its author, for a boost.
    #[serde(default)]
    pub reblog_of: Option<Id>,
    #[serde(default)]
    pub reblog_author: Option<Id>,
    /// For a direct post, the accounts it mentions: the only ones besides
    /// its author whose homes it reaches.
    #[serde(default)]
    pub direct_to: Option<Vec<Id>>,
}

/// A hashtag as `GET /api/v1/tags/:name` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagInfo {
    /// As first written (`#Rust` before `#rust`), or as asked for when
    /// never used.
    pub name: String,
    /// Uses per day, today first, for the last [`TagInfo::HISTORY_DAYS`]
    /// days: (the day's start in ms, posts, accounts).
    pub history: Vec<(i64, u64, u64)>,
    /// Whether the viewer follows it.
    pub following: bool,
}

impl TagInfo {
    pub const HISTORY_DAYS: i64 = 7;
}

/// Which hashtags a tag timeline asks for (normalized names): posts with
/// any of `any`, all of `all` and none of `none`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagQuery {
    pub any: Vec<String>,
    pub all: Vec<String>,
    pub none: Vec<String>,
}

impl TagQuery {
    /// Mastodon's `LIMIT_PER_MODE`: at most this many tags in each list.
    pub const MAX_PER_MODE: usize = 4;
}

/// One of an account's direct conversations: the thread it belongs to,
/// its newest post the account may see, and whether that is unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationRow {
    pub conversation_id: Id,
    pub last_post_id: Id,
    pub unread: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorStats {
    pub author_id: Id,
    pub statuses_count: u64,
    pub last_status_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewPost {
    pub author_id: Id,
    pub text: PostText,
    pub spoiler_text: String,
    pub sensitive: bool,
    pub visibility: Visibility,
    pub language: Option<String>,
    pub in_reply_to_id: Option<Id>,
    pub app_name: Option<String>,
    pub app_website: Option<String>,
    /// `Idempotency-Key` header, scoped to the author.
    pub idempotency_key: Option<String>,
    /// The local accounts the text mentions, resolved by the caller (the
    /// gateway asks `users`); hashtags `posts` finds itself.
    #[serde(default)]
    pub mentions: Vec<Mentioned>,
    #[serde(default)]
    pub poll: Option<NewPoll>,
}

impl NewPost {
    /// A plain public post: no content warning, reply, app or key.
    pub fn public(author_id: Id, text: PostText) -> NewPost {
        NewPost {
            author_id,
            text,
            spoiler_text: String::new(),
            sensitive: false,
            visibility: Visibility::Public,
            language: None,
            in_reply_to_id: None,
            app_name: None,
            app_website: None,
            idempotency_key: None,
            mentions: Vec::new(),
            poll: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PostsError {
    #[error("{0}")]
    Validation(String),
    #[error("record not found")]
    NotFound,
    #[error("posts store unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type Result<T> = std::result::Result<T, PostsError>;

impl rpc::ComponentError for PostsError {
    fn kind(&self) -> ErrorKind {
        match self {
            PostsError::Validation(_) => ErrorKind::Validation,
            PostsError::NotFound => ErrorKind::NotFound,
            PostsError::Unavailable(_) => ErrorKind::Unavailable,
            PostsError::Unexpected(_) => ErrorKind::Unexpected,
        }
    }
    fn detail(&self) -> String {
        match self {
            PostsError::Unavailable(m) => m.clone(),
            other => other.to_string(),
        }
    }
    fn from_wire(kind: ErrorKind, detail: String) -> Self {
        match kind {
            ErrorKind::Validation => PostsError::Validation(detail),
            ErrorKind::NotFound => PostsError::NotFound,
            ErrorKind::Unavailable => PostsError::Unavailable(detail),
            _ => PostsError::Unexpected(anyhow::anyhow!("posts: {detail}")),
        }
    }
}

/// What `posts` answers. Declared once: the remote client, the internal
/// dispatcher and [`ForwardPosts`] are generated from it.
#[rpc::component_api(component = "posts", remote = RemotePosts, forward = ForwardPosts)]
pub trait PostsApi: Send + Sync + 'static {
    #[write]
    async fn create(&self, post: NewPost) -> Result<PostRecord>;
    #[read]
    async fn get(&self, id: Id) -> Result<Option<PostRecord>>;
    /// The posts that exist among `ids`, newest first.
    #[read]
    async fn get_many(&self, ids: &[Id]) -> Result<Vec<PostRecord>>;
    /// Sets (`on`) or takes back `account`'s `kind` mark on `post`; doing
    /// it again changes nothing. The post as it now is. The caller checks
    /// that `account` may see the post.
    #[write]
    async fn mark(&self, kind: Mark, account: Id, post: Id, on: bool) -> Result<PostRecord>;
    /// `account`'s marks of `kind`, newest first, keyset-paged by mark id.
    #[read]
    async fn marks(&self, kind: Mark, account: Id, page: &Page) -> Result<Vec<Marked>>;
    /// Who marked `post` with `kind`, newest first, keyset-paged by mark id.
    #[read]
    async fn marked_by(&self, kind: Mark, post: Id, page: &Page) -> Result<Vec<Marked>>;
    /// Mutes (`on`) or unmutes `account`'s notifications from the
    /// conversation `post` belongs to; again changes nothing. The post.
    #[write]
    async fn mute_conversation(&self, account: Id, post: Id, on: bool) -> Result<PostRecord>;
    /// Which of `posts` `viewer` has marked or boosted, every kind: one
    /// statement for a page.
    #[read]
    async fn viewer_marks(&self, viewer: Id, posts: &[Id]) -> Result<ViewerMarks>;
    /// `account` boosts `post` (its original, if `post` is a boost) with
    /// `visibility`: the boost, a post of `account`'s. Boosting again
    /// answers the boost there is. Only the author may boost a private
    /// post (the boost is then private too). The caller checks that
    /// `account` may see the post.
    #[write]
    async fn reblog(&self, account: Id, post: Id, visibility: Visibility) -> Result<PostRecord>;
    /// Takes back `account`'s boost of `post` (or of its original); without
    /// one, changes nothing. The boosted post as it now is.
    #[write]
    async fn unreblog(&self, account: Id, post: Id) -> Result<PostRecord>;
    /// Who boosted `post`, newest boost first, keyset-paged by the boost's
    /// id (each [`Marked`] is a boost: its id, booster and `post`).
    #[read]
    async fn reblogged_by(&self, post: Id, page: &Page) -> Result<Vec<Marked>>;
    /// Edits `id` if `requester` wrote it (anyone else gets `NotFound`):
    /// the post as it now is, its earlier versions kept.
    #[write]
    async fn edit(&self, id: Id, requester: Id, edit: PostEdit) -> Result<PostRecord>;
    /// Every version of `id`, oldest first, the current one last (one
    /// version for a post never edited).
    #[read]
    async fn history(&self, id: Id) -> Result<Vec<PostVersion>>;
    /// Deletes `id` if `requester` wrote it; anyone else gets `NotFound`.
    #[write]
    async fn delete(&self, id: Id, requester: Id) -> Result<PostRecord>;
    /// An author's posts and boosts, newest first, as `filter` says.
    #[read]
    async fn by_author(&self, author: Id, filter: AuthorFilter, page: &Page) -> Result<Vec<PostRecord>>;
    /// The ids of the posts `by_author` returns, newest first: for readers
    /// that hold the records themselves ([`crate::CachedPosts`]).
    #[read]
    async fn by_author_ids(&self, author: Id, filter: AuthorFilter, page: &Page) -> Result<Vec<Id>>;
    /// Public posts (not boosts), newest first.
    #[read]
    async fn public(&self, page: &Page) -> Result<Vec<PostRecord>>;
    /// (ancestors oldest first, descendants in id order) of a post.
    #[read]
    async fn context(&self, id: Id) -> Result<(Vec<PostRecord>, Vec<PostRecord>)>;
    /// The newest posts and boosts (any visibility) by any of `authors`
    /// below `max_id`.
    #[read]
    async fn recent_by_authors(&self, authors: &[Id], max_id: Option<Id>, limit: usize) -> Result<Vec<PostRef>>;
    /// The oldest posts (any visibility) by any of `authors` above
    /// `min_id`, oldest first: home pages read upwards past the cache.
    #[read]
    async fn earliest_by_authors(&self, authors: &[Id], min_id: Id, limit: usize) -> Result<Vec<PostRef>>;
    /// The newest posts by any of `authors` that reply to `account`.
    #[read]
    async fn replies_to(&self, account: Id, authors: &[Id], limit: usize) -> Result<Vec<PostRef>>;
    /// The newest public posts (not boosts) matching `query`, newest first.
    #[read]
    async fn tag_timeline(&self, query: &TagQuery, page: &Page) -> Result<Vec<PostRecord>>;
    /// Hashtag `name` (normalized) with its recent use; `following` for `viewer`.
    #[read]
    async fn tag(&self, name: &str, viewer: Option<Id>) -> Result<TagInfo>;
    /// `account` follows (`on`) hashtag `display` or stops; again changes
    /// nothing. The tag as it now is.
    #[write]
    async fn follow_tag(&self, account: Id, display: &str, on: bool) -> Result<TagInfo>;
    /// The hashtags `account` follows, newest follow first, keyset-paged by
    /// the follow's id: (the follow's id, the tag).
    #[read]
    async fn followed_tags(&self, account: Id, page: &Page) -> Result<Vec<(Id, TagInfo)>>;
    /// Who follows any of `tags` (normalized).
    #[read]
    async fn tag_followers(&self, tags: &[String]) -> Result<Vec<Id>>;
    /// The newest public posts below `max_id` with a hashtag `account`
    /// follows: what fan-out gave its home from those tags.
    #[read]
    async fn recent_tagged_for(&self, account: Id, max_id: Option<Id>, limit: usize) -> Result<Vec<PostRef>>;
    /// The oldest such posts above `min_id`, oldest first.
    #[read]
    async fn earliest_tagged_for(&self, account: Id, min_id: Id, limit: usize) -> Result<Vec<PostRef>>;
    /// `account` votes `choices` (option indexes) in the poll of post
    /// `poll`: once, in an open poll, one choice unless it is multiple. The
    /// post as it now is. The caller checks that `account` may see it.
    #[write]
    async fn vote(&self, account: Id, poll: Id, choices: &[u32]) -> Result<PostRecord>;
    /// Who voted in the poll of post `poll` (each once).
    #[read]
    async fn poll_voters(&self, poll: Id) -> Result<Vec<Id>>;
    /// Who boosted `post` (at most 10,000, newest
    /// boosts first): those told of its edits.
    #[read]
    async fn booster_ids(&self, post: Id) -> Result<Vec<Id>>;
    /// `account`'s direct conversations, the newest post first, keyset-paged
    /// by that post's id; removed ones left out until a newer post.
    #[read]
    async fn conversations(&self, account: Id, page: &Page) -> Result<Vec<ConversationRow>>;
    /// Marks `account`'s conversation read, or removes it from its list
    /// (`remove`); `NotFound` if it has none by that id.
    #[write]
    async fn conversation_seen(&self, account: Id, conversation: Id, remove: bool) -> Result<ConversationRow>;
    #[read]
    async fn author_stats(&self, authors: &[Id]) -> Result<Vec<AuthorStats>>;
    #[read]
    async fn post_count(&self) -> Result<u64>;
}
