//! The `timelines` component: home timelines, derived from `posts` and
//! `users` and held in the timeline cache.
//!
//! Writes are fan-out on write: each `post.created` adds the post to the
//! cached timelines of its author and the author's followers; follows
//! back-fill, unfollows and deletions remove. Reads page through the cache;
//! a timeline that is not in the cache (first read, eviction, restart with
//! an in-memory cache) is rebuilt from the sources before it is read, so
//! losing the cache loses nothing. See the `cache` crate for why the
//! rebuild cannot miss a post fanned out while it runs.
//!
//! Accounts with more followers than `celebrity_threshold` are served by a
//! pull path instead: their posts go to a per-author list of recent posts
//! (in the same cache, under the author's id negated) and not to their
//! followers; a home read merges the lists of the celebrities the reader
//! follows with the reader's cached timeline. Pages come out identical to
//! what pure fan-out gives (`tests/hybrid.rs` checks it on random graphs).
//! The set of celebrities lives in the shared state, so every instance
//! agrees on it; an account moves between the strategies when it posts
//! (see [`handler`]).
//!
//! Every list may carry [`Entry::END`] at its bottom: the list then holds
//! everything its sources have, and a short page needs no store query.
//!
//! Mastodon's rule for replies is kept: a reply to someone else reaches a
//! follower's home timeline only if that follower also follows the person
//! replied to. Self-replies (threads) reach every follower.
//!
//! Boosts are entries like posts (their booster as author, fanned out and
//! pulled alike), and so is Mastodon's rule for them: a boost is not shown
//! when the post it boosts, or another boost of it, is among the
//! [`REBLOG_FALLOFF`] entries below it. The rule is applied when a page is
//! read, over what the timeline holds, so a fanned-out, a pulled and a
//! rebuilt timeline — which hold the same entries — show the same page
//! whatever order the boosts arrived in.
#![forbid(unsafe_code)]

mod component;
mod handler;

pub use component::{COMPONENT, TimelinesComponent};
pub use handler::TimelinesHandler;

use async_trait::async_trait;
use cache::{Entry, SharedState, TimelineCache};
use model::{Id, Page, PageDirection};
use posts::{PostRef, PostsApi};
use std::collections::HashSet;
use std::sync::Arc;
use users::UsersApi;

#[derive(Debug, thiserror::Error)]
pub enum TimelinesError {
    #[error("timeline sources unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<cache::CacheError> for TimelinesError {
    fn from(e: cache::CacheError) -> Self {
        TimelinesError::Unavailable(e.to_string())
    }
}
impl From<users::UsersError> for TimelinesError {
    fn from(e: users::UsersError) -> Self {
        match e {
            users::UsersError::Unavailable(m) => TimelinesError::Unavailable(m),
            other => TimelinesError::Unexpected(other.into()),
        }
    }
}
impl From<posts::PostsError> for TimelinesError {
    fn from(e: posts::PostsError) -> Self {
        match e {
            posts::PostsError::Unavailable(m) => TimelinesError::Unavailable(m),
            other => TimelinesError::Unexpected(other.into()),
        }
    }
}

pub type Result<T> = std::result::Result<T, TimelinesError>;

impl rpc::ComponentError for TimelinesError {
    fn kind(&self) -> rpc::ErrorKind {
        match self {
            TimelinesError::Unavailable(_) => rpc::ErrorKind::Unavailable,
            TimelinesError::Unexpected(_) => rpc::ErrorKind::Unexpected,
        }
    }
    fn detail(&self) -> String {
        match self {
            TimelinesError::Unavailable(m) => m.clone(),
            other => other.to_string(),
        }
    }
    fn from_wire(kind: rpc::ErrorKind, detail: String) -> Self {
        match kind {
            rpc::ErrorKind::Unavailable => TimelinesError::Unavailable(detail),
            _ => TimelinesError::Unexpected(anyhow::anyhow!("timelines: {detail}")),
        }
    }
}

/// What `timelines` answers. Declared once: the remote client and the
/// internal dispatcher are generated from it.
#[rpc::component_api(component = "timelines", remote = RemoteTimelines)]
pub trait TimelinesApi: Send + Sync + 'static {
    /// `account`'s home timeline page, newest first: post ids with their
    /// authors, so the caller can fetch posts and authors at once. Keyed by
    /// the account, so a consistent-hash pool keeps an account's reads on
    /// one instance.
    #[read(key = account)]
    async fn home(&self, account: Id, page: &Page) -> Result<Vec<Entry>>;
}

/// `[timelines]`: how home timelines are cached and fanned out.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimelinesSettings {
    /// Entries kept per cached home timeline.
    pub cap: usize,
    /// A home timeline not read for this many days leaves the cache and
    /// gets no more fan-out; the account's next read rebuilds it.
    pub inactive_after_days: u32,
    /// Accounts with more followers than this are not fanned out:
    /// their followers' home reads pull their posts instead. They go back
    /// to fan-out below 90 % of it.
    pub celebrity_threshold: u64,
}

impl Default for TimelinesSettings {
    fn default() -> Self {
        TimelinesSettings {
            cap: TimelinesService::DEFAULT_CAP,
            inactive_after_days: 7,
            celebrity_threshold: TimelinesService::DEFAULT_CELEBRITY_THRESHOLD,
        }
    }
}

impl TimelinesSettings {
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(1..=3650).contains(&self.inactive_after_days) {
            return Err("timelines.inactive_after_days must be between 1 and 3650".into());
        }
        if self.celebrity_threshold == 0 {
            return Err("timelines.celebrity_threshold must be at least 1".into());
        }
        if !(1..=100_000).contains(&self.cap) {
            return Err("timelines.cap must be between 1 and 100000".into());
        }
        Ok(())
    }

    /// How long an unread timeline stays cached.
    pub fn idle_expiry(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.inactive_after_days) * 24 * 3600)
    }
}

#[derive(Clone)]
pub struct TimelinesService {
    pub(crate) cache: Arc<dyn TimelineCache>,
    pub(crate) users: Arc<dyn UsersApi>,
    pub(crate) posts: Arc<dyn PostsApi>,
    /// Entries kept per timeline; also how many posts a rebuild loads.
    pub(crate) cap: usize,
    /// `None`: every author is fanned out.
    pub(crate) celebrities: Option<Celebrities>,
    /// [`REBLOG_FALLOFF`], but for tests of small timelines.
    pub(crate) reblog_falloff: usize,
}

/// Who is served by the pull path, and when an account moves.
#[derive(Clone)]
pub(crate) struct Celebrities {
    pub(crate) set: Arc<dyn SharedState>,
    /// An author with more followers than this becomes a celebrity.
    pub(crate) threshold: u64,
}

impl Celebrities {
    pub(crate) const KEY: &'static str = "timelines:celebrities";

    /// Ids of the current celebrities.
    pub(crate) async fn members(&self) -> Result<Vec<Id>> {
        let raw = self.set.set_members(Self::KEY).await?;
        Ok(raw.iter().filter_map(|m| m.parse::<i64>().ok()).map(Id::from_i64).collect())
    }

    /// A celebrity goes back to fan-out below 90 % of the threshold, so an
    /// account hovering around it does not flip (each move back evicts its
    /// followers' timelines).
    pub(crate) fn stays(&self, followers: u64) -> bool {
        followers * 10 >= self.threshold * 9
    }
}

/// Mastodon's `REBLOG_FALLOFF`: how many entries below a boost are
/// looked at for the post it boosts, or another boost of it.
pub const REBLOG_FALLOFF: usize = 40;

/// Which of `entries` (newest first, and then `below`, the entries right
/// below them) are shown: all but the boosts whose original, or another
/// boost of it, is among the `falloff` entries below them.
fn shown(entries: &[Entry], below: &[Entry], falloff: usize) -> Vec<bool> {
    let all: Vec<&Entry> = entries.iter().chain(below).collect();
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| match e.reblog_of {
            None => true,
            Some(original) => !all[i + 1..].iter().take(falloff).any(|b| b.shown() == original),
        })
        .collect()
}

/// What an account's blocks and mutes keep out of its home timeline: the
/// posts and boosts of accounts it blocks, that block it or that it mutes,
/// boosts of their posts, and the boosts of accounts whose boosts it hides.
/// Applied at fan-out (nothing is inserted), at rebuild and at read (a
/// block made after fan-out still hides).
#[derive(Default)]
pub(crate) struct Filters {
    hidden: HashSet<Id>,
    no_boosts_from: HashSet<Id>,
}

impl Filters {
    pub(crate) async fn of(users: &dyn UsersApi, owner: Id) -> users::Result<Filters> {
        let f = users.timeline_filters(owner).await?;
        Ok(Filters { hidden: f.hidden_accounts().collect(), no_boosts_from: f.hiding_reblogs.into_iter().collect() })
    }

    /// Whether `owner`'s home shows `e`, as far as blocks and mutes go.
    pub(crate) fn admits(&self, owner: Id, e: &Entry) -> bool {
        if self.hidden.is_empty() && self.no_boosts_from.is_empty() {
            return true;
        }
        if e.author_id != owner && self.hidden.contains(&e.author_id) {
            return false;
        }
        if e.reblog_author.is_some_and(|a| self.hidden.contains(&a)) {
            return false;
        }
        !(e.reblog_of.is_some() && self.no_boosts_from.contains(&e.author_id))
    }
}

/// The entry for a post.
pub(crate) fn entry(p: &PostRef) -> Entry {
    Entry { post_id: p.post_id, author_id: p.author_id, reblog_of: p.reblog_of, reblog_author: p.reblog_author }
}

/// Where `author`'s list of recent posts lives in the timeline cache.
/// Post and account ids are positive, so it never meets a home timeline.
pub(crate) fn authored(author: Id) -> Id {
    Id::from_i64(-author.get())
}

/// Whether `p` reaches every follower of its author: not a reply to a
/// third party. Only those go to the author's list; replies to others are
/// fanned out to the few who follow both, celebrity or not.
pub(crate) fn reaches_all(p: &PostRef) -> bool {
    p.direct_to.is_none() && p.in_reply_to_account_id.is_none_or(|r| r == p.author_id)
}

/// Entries of several lists as one: newest first, each post once (a
/// celebrity's post fanned out before it moved is in both lists), no
/// end markers.
fn newest_first(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_unstable_by_key(|e| std::cmp::Reverse(e.post_id));
    entries.dedup_by_key(|e| e.post_id);
    entries.retain(|e| *e != Entry::END);
    entries
}

/// One source's share of a descending page, and down to where it is known
/// to be complete.
struct Slice {
    entries: Vec<Entry>,
    /// Entries below this may be missing from the source (it holds no
    /// more, or it reached its limit); `None`: complete to the page's end.
    floor: Option<Id>,
}

impl TimelinesService {
    pub const COMPONENT: &'static str = "timelines";
    pub const DEFAULT_CAP: usize = 800;
    pub const DEFAULT_CELEBRITY_THRESHOLD: u64 = 10_000;

    pub fn new(cache: Arc<dyn TimelineCache>, users: Arc<dyn UsersApi>, posts: Arc<dyn PostsApi>, cap: usize) -> Self {
        TimelinesService { cache, users, posts, cap, celebrities: None, reblog_falloff: REBLOG_FALLOFF }
    }

    /// Looks `falloff` entries below a boost instead of [`REBLOG_FALLOFF`]:
    /// lets tests reach past the window with a few dozen posts.
    pub fn with_reblog_falloff(mut self, falloff: usize) -> Self {
        self.reblog_falloff = falloff;
        self
    }

    /// Serves accounts with more than `threshold` followers by the pull
    /// path; `set` holds who they are and must be shared by every
    /// instance of `timelines`.
    pub fn with_celebrities(mut self, set: Arc<dyn SharedState>, threshold: u64) -> Self {
        self.celebrities = Some(Celebrities { set, threshold: threshold.max(1) });
        self
    }

    /// A page of the cached list `owner` (a home timeline, or an author's
    /// list under [`authored`]), rebuilt first if absent.
    async fn cached_page(&self, owner: Id, page: &Page) -> Result<Vec<Entry>> {
        if !self.cache.is_ready(owner).await? {
            let rebuilt = if owner.get() < 0 {
                self.rebuild_authored(authored(owner)).await?
            } else {
                self.rebuild(owner).await?
            };
            if !rebuilt.cached {
                // The cache lost the timeline mid-rebuild (a flush): answer
                // from what was just read; the next read rebuilds again.
                return Ok(page.apply_desc(&rebuilt.entries, |e| e.post_id));
            }
        }
        Ok(self.cache.page(owner, page).await?)
    }

    /// Whether cached list `owner` holds an entry at or below `id` (the end
    /// marker counts: it sorts below every post). Trims take only the
    /// oldest entries, so such a list holds everything above `id`.
    async fn reaches_down_to(&self, owner: Id, id: Id) -> Result<bool> {
        let at_or_below =
            Page { max_id: Some(Id::from_i64(id.get().saturating_add(1))), since_id: None, min_id: None, limit: 1 };
        Ok(!self.cache.page(owner, &at_or_below).await?.is_empty())
    }

    /// The part of a descending page that list `owner` can vouch for.
    async fn slice(&self, owner: Id, page: &Page) -> Result<Slice> {
        let mut entries = self.cached_page(owner, page).await?;
        let complete = if entries.last() == Some(&Entry::END) {
            entries.pop();
            true
        } else if entries.len() == page.limit {
            false // it may hold more below
        } else {
            // Short without the marker: entries below what it holds may have
            // been trimmed away, unless it also holds something at or below
            // the page's lower bound (trims only take the oldest).
            match page.lower() {
                Some(l) => self.reaches_down_to(owner, l).await?,
                None => false,
            }
        };
        let floor = if complete {
            None
        } else {
            Some(entries.last().map(|e| e.post_id).or(page.max_id).unwrap_or(Id::from_i64(i64::MAX)))
        };
        Ok(Slice { entries, floor })
    }

    /// The celebrities `owner` follows (none without the pull path, and
    /// no call to `users` while there are no celebrities at all).
    async fn followed_celebrities(&self, owner: Id) -> Result<Vec<Id>> {
        let Some(c) = &self.celebrities else { return Ok(Vec::new()) };
        let members = c.members().await?;
        if members.is_empty() {
            return Ok(members);
        }
        let following: HashSet<Id> = self.users.following_ids(owner).await?.into_iter().collect();
        Ok(members.into_iter().filter(|m| following.contains(m)).collect())
    }

    /// Whom `owner` follows and what its blocks and mutes keep out: what
    /// every read of its home from the sources (rebuild, back-fill, a walk
    /// past the cache) applies, read at once.
    pub(crate) async fn follows_and_filters(&self, owner: Id) -> users::Result<(HashSet<Id>, Filters)> {
        let (following, filters) =
            futures::try_join!(self.users.following_ids(owner), Filters::of(&*self.users, owner))?;
        Ok((following.into_iter().collect(), filters))
    }

    /// Up to `want` home entries of `owner` below `below` (and above
    /// `above`), newest first, read from the follow graph and the posts
    /// with the same rule as fan-out — what the timeline would hold had it
    /// no cap.
    async fn past_the_cache(&self, owner: Id, below: Option<Id>, above: Option<Id>, want: usize) -> Result<Vec<Entry>> {
        self.walk_the_store(owner, want, Walk::Down { below, above }).await
    }

    /// The `want` home entries of `owner` just above `min_id`, oldest
    /// first, read as [`past_the_cache`](Self::past_the_cache) reads, upwards.
    async fn above_the_cache(&self, owner: Id, min_id: Id, want: usize) -> Result<Vec<Entry>> {
        self.walk_the_store(owner, want, Walk::Up { min_id }).await
    }

    /// Up to `want` home entries of `owner` from the store, walking the
    /// posts of the owner and the accounts it follows in batches, in the
    /// direction `walk` says. Posts that fan-out would not have delivered
    /// (replies to strangers) are skipped.
    async fn walk_the_store(&self, owner: Id, want: usize, walk: Walk) -> Result<Vec<Entry>> {
        let (following, filters) = self.follows_and_filters(owner).await?;
        let mut authors: Vec<Id> = following.iter().copied().collect();
        authors.push(owner);
        let mut out = Vec::with_capacity(want);
        let mut cursor = None;
        loop {
            // Some posts are replies that do not reach the owner; ask for a
            // little more than is missing.
            let batch = ((want - out.len()) * 2 + 8).min(400);
            let (by_authors, tagged) = match walk {
                Walk::Down { below, .. } => futures::try_join!(
                    self.posts.recent_by_authors(&authors, cursor.or(below), batch),
                    self.posts.recent_tagged_for(owner, cursor.or(below), batch)
                )?,
                Walk::Up { min_id } => futures::try_join!(
                    self.posts.earliest_by_authors(&authors, cursor.unwrap_or(min_id), batch),
                    self.posts.earliest_tagged_for(owner, cursor.unwrap_or(min_id), batch)
                )?,
            };
            let tagged_ids: HashSet<Id> = tagged.iter().map(|p| p.post_id).collect();
            let read = merged(vec![by_authors, tagged], batch, matches!(walk, Walk::Up { .. }));
            let exhausted = read.complete;
            for p in read.posts {
                if let Walk::Down { above: Some(a), .. } = walk
                    && p.post_id <= a
                {
                    return Ok(out);
                }
                cursor = Some(p.post_id);
                let delivered = tagged_ids.contains(&p.post_id) || reaches(owner, &p, |a| following.contains(&a));
                if delivered && filters.admits(owner, &entry(&p)) {
                    out.push(entry(&p));
                    if out.len() == want {
                        return Ok(out);
                    }
                }
            }
            if exhausted {
                return Ok(out);
            }
        }
    }

    /// Rebuilds `owner`'s timeline from the follow graph and the posts and
    /// returns the entries, newest first. `cached` tells whether the cache
    /// kept them (it does not if the timeline was evicted or flushed while
    /// the rebuild ran; see `cache`).
    pub async fn rebuild(&self, owner: Id) -> Result<Rebuilt> {
        // Mark the timeline present *before* reading the sources, so fan-out
        // of any post committed after our read lands in it (see `cache`).
        self.cache.begin_rebuild(owner).await?;
        let (following, filters) = self.follows_and_filters(owner).await?;
        let mut authors: Vec<Id> = following.iter().copied().collect();
        authors.push(owner);
        let (by_authors, tagged) = futures::try_join!(
            self.posts.recent_by_authors(&authors, None, self.cap),
            self.posts.recent_tagged_for(owner, None, self.cap)
        )?;
        let tagged_ids: HashSet<Id> = tagged.iter().map(|p| p.post_id).collect();
        let recent = merged(vec![by_authors, tagged], self.cap, false);
        let keep = |p: &PostRef| {
            (tagged_ids.contains(&p.post_id) || reaches(owner, p, |a| following.contains(&a)))
                && filters.admits(owner, &entry(p))
        };
        let rebuilt = self.finish_rebuild(owner, recent.posts, recent.complete, keep).await?;
        tracing::debug!(%owner, entries = rebuilt.entries.len(), cached = rebuilt.cached, "home timeline rebuilt");
        Ok(rebuilt)
    }

    /// Rebuilds `author`'s list of recent posts (those reaching every
    /// follower), as [`rebuild`](Self::rebuild) does a home timeline.
    pub async fn rebuild_authored(&self, author: Id) -> Result<Rebuilt> {
        let owner = authored(author);
        self.cache.begin_rebuild(owner).await?;
        let recent = self.posts.recent_by_authors(&[author], None, self.cap).await?;
        let complete = recent.len() < self.cap;
        self.finish_rebuild(owner, recent, complete, reaches_all).await
    }

    /// Stores the posts `recent` read for list `owner` (newest first, at
    /// most `cap`) that `keep` admits, ending with [`Entry::END`] when
    /// `complete` (the read came back short of `cap`: the list then holds
    /// everything).
    async fn finish_rebuild(
        &self,
        owner: Id,
        recent: Vec<PostRef>,
        complete: bool,
        keep: impl Fn(&PostRef) -> bool,
    ) -> Result<Rebuilt> {
        let mut entries: Vec<Entry> = recent.iter().filter(|p| keep(p)).map(entry).collect();
        if complete {
            entries.push(Entry::END);
        }
        let cached = self.cache.finish_rebuild(owner, &entries).await?;
        Ok(Rebuilt { entries, cached })
    }
}

/// What several reads of `limit` posts each, all in one direction from
/// one bound, hold together.
struct Merged {
    /// Each post once, in the reads' order, and only as far as every read
    /// is certain: past the last post of a read that came back full, that
    /// read may be missing posts.
    posts: Vec<PostRef>,
    /// No read came back full: nothing lies beyond.
    complete: bool,
}

/// Merges `reads` (each newest first, or oldest first when `ascending`).
fn merged(reads: Vec<Vec<PostRef>>, limit: usize, ascending: bool) -> Merged {
    let key = |id: Id| if ascending { -id.get() } else { id.get() };
    // The nearest edge of any full read: posts beyond it are uncertain.
    let edge = reads.iter().filter(|r| r.len() >= limit).filter_map(|r| r.last()).map(|p| key(p.post_id)).max();
    let mut posts: Vec<PostRef> = reads.into_iter().flatten().collect();
    posts.sort_unstable_by_key(|p| std::cmp::Reverse(key(p.post_id)));
    posts.dedup_by_key(|p| p.post_id);
    if let Some(edge) = edge {
        posts.retain(|p| key(p.post_id) >= edge);
    }
    Merged { posts, complete: edge.is_none() }
}

/// Which way [`TimelinesService::walk_the_store`] walks the posts.
#[derive(Clone, Copy)]
enum Walk {
    /// Newest first, below `below`, down to (not including) `above`.
    Down { below: Option<Id>, above: Option<Id> },
    /// Oldest first, above `min_id`.
    Up { min_id: Id },
}

pub struct Rebuilt {
    /// Newest first.
    pub entries: Vec<Entry>,
    pub cached: bool,
}

/// Whether post `p` belongs in `owner`'s home timeline, given that `owner`
/// follows `p`'s author (or is the author): everything except replies to
/// a third party the owner does not follow, and direct posts that do not
/// mention the owner.
pub(crate) fn reaches(owner: Id, p: &PostRef, follows: impl Fn(Id) -> bool) -> bool {
    // A direct post: its author and the accounts it mentions, only (and
    // for them, as any post, Mastodon's rule for replies).
    if let Some(to) = &p.direct_to
        && p.author_id != owner
        && !to.contains(&owner)
    {
        return false;
    }
    match p.in_reply_to_account_id {
        None => true,
        Some(r) => r == p.author_id || r == owner || p.author_id == owner || follows(r),
    }
}

/// Home pages larger than this are not read to fill a page that boosts
/// thinned: the page comes back short (a client asks for the next).
const MAX_READ: usize = 1000;

#[async_trait]
impl TimelinesApi for TimelinesService {
    async fn home(&self, account: Id, page: &Page) -> Result<Vec<Entry>> {
        // What the timeline holds, a page at a time, with what blocks and
        // mutes keep out and the boosts that are not shown taken out; a
        // page they thinned is read again, larger, so it comes back full
        // while the timeline has more.
        let filters = Filters::of(&*self.users, account).await?;
        let mut want = page.limit;
        loop {
            let held = self.held(account, &Page { limit: want, ..*page }).await?;
            let more = held.len() >= want;
            let lowest = held.last().map(|e| e.post_id);
            let held: Vec<Entry> = held.into_iter().filter(|e| filters.admits(account, e)).collect();
            let below = match lowest {
                Some(lowest) if held.iter().any(|e| e.reblog_of.is_some()) => {
                    self.admitted_below(account, lowest, self.reblog_falloff, &filters).await?
                }
                _ => Vec::new(),
            };
            let flags = shown(&held, &below, self.reblog_falloff);
            let mut kept: Vec<Entry> = held.into_iter().zip(flags).filter(|(_, s)| *s).map(|(e, _)| e).collect();
            if kept.len() > page.limit {
                match page.direction() {
                    PageDirection::Descending => kept.truncate(page.limit),
                    // The entries just above `min_id`: the lowest ones.
                    PageDirection::AscendingFromMin => {
                        kept.drain(..kept.len() - page.limit);
                    }
                }
            }
            if kept.len() == page.limit || !more || want >= MAX_READ {
                return Ok(kept);
            }
            want = (want * 2).max(want + self.reblog_falloff).min(MAX_READ);
        }
    }
}

impl TimelinesService {
    /// The `n` entries of `account`'s home just below `below` that its
    /// filters admit (fewer at the end of the timeline, or when [`MAX_READ`]
    /// entries below held fewer: a muted prolific account cannot make one
    /// page read the whole history), newest first.
    async fn admitted_below(&self, account: Id, below: Id, n: usize, filters: &Filters) -> Result<Vec<Entry>> {
        let mut out = Vec::with_capacity(n);
        let mut cursor = below;
        let mut read = 0;
        loop {
            if read >= MAX_READ {
                return Ok(out);
            }
            let want = (n - out.len()) * 2;
            let held =
                self.held(account, &Page { max_id: Some(cursor), since_id: None, min_id: None, limit: want }).await?;
            let Some(last) = held.last() else { return Ok(out) };
            cursor = last.post_id;
            let exhausted = held.len() < want;
            read += held.len();
            out.extend(held.into_iter().filter(|e| filters.admits(account, e)).take(n - out.len()));
            if out.len() == n || exhausted {
                return Ok(out);
            }
        }
    }

    /// A page of everything `account`'s home timeline holds, boosts not
    /// yet thinned nor blocks and mutes applied, newest first.
    async fn held(&self, account: Id, page: &Page) -> Result<Vec<Entry>> {
        let celebrities = self.followed_celebrities(account).await?;
        let mut owners = vec![account];
        owners.extend(celebrities.iter().map(|c| authored(*c)));

        if let (PageDirection::AscendingFromMin, Some(min)) = (page.direction(), page.min_id) {
            // The `limit` entries just above `min_id` of each list, merged —
            // if every list reaches down to `min_id` (holds an entry at or
            // below it, or everything). A list trimmed above it may miss
            // entries just above it: then the page comes from the store.
            let mut all = Vec::new();
            let mut covered = true;
            for o in owners {
                all.extend(self.cached_page(o, page).await?);
                covered &= self.reaches_down_to(o, min).await?;
            }
            if !covered {
                tracing::debug!(%account, %min, "min_id below a cached list's oldest entry: reading the store");
                let mut up = self.above_the_cache(account, min, page.limit).await?;
                up.reverse();
                return Ok(up);
            }
            all.retain(|e| *e != Entry::END);
            return Ok(page.apply_desc(&newest_first(all), |e| e.post_id));
        }

        // Each list vouches for its entries down to its floor; what lies
        // above the highest floor is certain, the rest comes from the store.
        let slices = futures::future::try_join_all(owners.iter().map(|o| self.slice(*o, page))).await?;
        let floor = slices.iter().filter_map(|s| s.floor).max();
        let mut entries = newest_first(slices.into_iter().flat_map(|s| s.entries).collect());
        entries.retain(|e| floor.is_none_or(|f| e.post_id >= f));
        entries.truncate(page.limit);
        // The cache keeps the newest `cap` entries of each list. A page
        // that runs out in it goes on in the store, so scrolling back never
        // hits a wall.
        if entries.len() < page.limit && floor.is_some() {
            let below = entries.last().map(|e| e.post_id).or(page.max_id);
            let older = self.past_the_cache(account, below, page.lower(), page.limit - entries.len()).await?;
            entries.extend(older);
        }
        Ok(entries)
    }
}
