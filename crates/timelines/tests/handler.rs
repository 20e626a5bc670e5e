//! The timelines event handler is idempotent: every event handled twice
//! leaves exactly the state handling it once did, and late events (a follow
//! after its unfollow, a post after its deletion) change nothing.

use bus::Handler;
use cache::{MemoryTimelineCache, TimelineCache};
use model::{Email, Envelope, Event, Id, IdGenerator, Page, Password, PostText, Username, Visibility};
use posts::{NewPost, PostsApi, PostsService};
use std::sync::Arc;
use store::DbConfig;
use timelines::{TimelinesApi, TimelinesHandler, TimelinesService};
use users::{SignUp, UsersApi, UsersService};

struct World {
    _dir: tempfile::TempDir,
    _pg: Option<testdb::TestDatabase>,
    users: UsersService,
    posts: PostsService,
    cache: Arc<MemoryTimelineCache>,
    service: TimelinesService,
    handler: TimelinesHandler,
}

/// The same world on either engine: SQLite files, or a fresh PostgreSQL
/// database with a schema per component.
async fn world_on(postgres: bool) -> World {
    world_capped(postgres, 800).await
}

async fn world_capped(postgres: bool, cap: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let pg = if postgres { Some(testdb::TestDatabase::create().await) } else { None };
    let config = match &pg {
        Some(pg) => pg.config(),
        None => DbConfig::Sqlite { dir: dir.path().into() },
    };
    let ids = Arc::new(IdGenerator::new(1));
    let users = UsersService::open(&config, ids.clone()).await.unwrap();
    let posts = PostsService::open(&config, ids).await.unwrap();
    let cache = Arc::new(MemoryTimelineCache::new(cap));
    let service = TimelinesService::new(cache.clone(), Arc::new(users.clone()), Arc::new(posts.clone()), cap);
    let handler = TimelinesHandler::new(service.clone());
    World { _dir: dir, _pg: pg, users, posts, cache, service, handler }
}

fn new_post(author: Id, text: &str) -> NewPost {
    NewPost::public(author, PostText::parse(text, 500).unwrap())
}

impl World {
    async fn account(&self, name: &str) -> Id {
        self.users
            .sign_up(SignUp {
                username: Username::parse(name).unwrap(),
                email: Email::parse(&format!("{name}@example.org")).unwrap(),
                password: Password::parse("long enough password").unwrap(),
            })
            .await
            .unwrap()
            .id
    }

    async fn post(&self, author: Id, text: &str) -> Id {
        self.posts.create(new_post(author, text)).await.unwrap().id
    }

    /// The posts cached for `owner`, newest first (without the marker of
    /// a complete timeline).
    async fn cached(&self, owner: Id) -> Vec<Id> {
        let page = self.cache.page(owner, &Page::first(40)).await.unwrap();
        page.into_iter().filter(|e| *e != cache::Entry::END).map(|e| e.post_id).collect()
    }

    async fn snapshot(&self, owners: &[Id]) -> Vec<Vec<Id>> {
        let mut out = Vec::new();
        for o in owners {
            out.push(self.cached(*o).await);
        }
        out
    }

    /// Handles `event` twice and asserts the second changed nothing;
    /// returns the state after the first.
    async fn twice(&self, event: Event, owners: &[Id]) -> Vec<Vec<Id>> {
        let env = Envelope::new("test", event);
        self.handler.handle(&env).await.unwrap();
        let once = self.snapshot(owners).await;
        self.handler.handle(&env).await.unwrap();
        assert_eq!(self.snapshot(owners).await, once, "a redelivered {} changed the timelines", env.kind());
        once
    }
}

async fn every_event_handled_twice_leaves_the_same_state(w: World) {
    let (a, b, c) = (w.account("a").await, w.account("b").await, w.account("c").await);
    w.users.follow(b, a).await.unwrap();
    let all = [a, b, c];
    for o in all {
        w.service.home(o, &Page::first(20)).await.unwrap(); // materialise
    }

    let p1 = w.post(a, "first").await;
    let s = w
        .twice(
            Event::PostCreated {
                post_id: p1,
                author_id: a,
                visibility: Visibility::Public,
                in_reply_to_account_id: None,
                mentions: vec![],
                tags: vec![],
            },
            &all,
        )
        .await;
    assert_eq!(s, vec![vec![p1], vec![p1], vec![]]);

    let q = w.post(b, "by b").await;
    w.twice(
        Event::PostCreated {
            post_id: q,
            author_id: b,
            visibility: Visibility::Public,
            in_reply_to_account_id: None,
            mentions: vec![],
            tags: vec![],
        },
        &all,
    )
    .await;
    w.users.follow(c, b).await.unwrap();
    let s = w.twice(Event::FollowCreated { follower_id: c, followee_id: b }, &all).await;
    assert_eq!(s[2], vec![q], "c's timeline back-filled with b's post");

    w.posts.delete(p1, a).await.unwrap();
    let s = w.twice(Event::PostDeleted { post_id: p1, author_id: a, tags: vec![] }, &all).await;
    assert_eq!(s, vec![vec![], vec![q], vec![q]]);

    w.users.unfollow(c, b).await.unwrap();
    let s = w.twice(Event::FollowRemoved { follower_id: c, followee_id: b }, &all).await;
    assert_eq!(s[2], Vec::<Id>::new());
}

async fn late_events_do_not_resurrect_what_is_gone(w: World) {
    let (a, b) = (w.account("a").await, w.account("b").await);
    for o in [a, b] {
        w.service.home(o, &Page::first(20)).await.unwrap();
    }
    let p = w.post(a, "soon gone").await;
    w.posts.delete(p, a).await.unwrap();
    // post.created delivered after the post was deleted.
    w.twice(
        Event::PostCreated {
            post_id: p,
            author_id: a,
            visibility: Visibility::Public,
            in_reply_to_account_id: None,
            mentions: vec![],
            tags: vec![],
        },
        &[a, b],
    )
    .await;
    assert!(w.cached(a).await.is_empty());
    // follow.created delivered after the unfollow.
    let kept = w.post(a, "kept").await;
    w.users.follow(b, a).await.unwrap();
    w.users.unfollow(b, a).await.unwrap();
    w.twice(Event::FollowCreated { follower_id: b, followee_id: a }, &[b]).await;
    assert!(w.cached(b).await.is_empty(), "{kept} must not appear");
    // follow.removed delivered after a re-follow keeps the timeline.
    w.users.follow(b, a).await.unwrap();
    w.twice(Event::FollowCreated { follower_id: b, followee_id: a }, &[b]).await;
    w.twice(Event::FollowRemoved { follower_id: b, followee_id: a }, &[b]).await;
    assert_eq!(w.cached(b).await.len(), 1);
}

async fn a_missing_timeline_is_rebuilt_complete_on_read(w: World) {
    let (a, b) = (w.account("a").await, w.account("b").await);
    w.users.follow(b, a).await.unwrap();
    let mut want = Vec::new();
    for i in 0..30 {
        want.push(w.post(if i % 2 == 0 { a } else { b }, &format!("n{i}")).await);
    }
    want.reverse();
    // Nothing was fanned out (no relay); the read rebuilds from the sources.
    assert_eq!(ids(w.service.home(b, &Page::first(40)).await.unwrap()), want);
    w.cache.evict(b).await.unwrap();
    assert_eq!(ids(w.service.home(b, &Page::first(40)).await.unwrap()), want);
}

#[tokio::test]
async fn every_event_handled_twice_leaves_the_same_state_on_sqlite() {
    every_event_handled_twice_leaves_the_same_state(world_on(false).await).await;
}

#[tokio::test]
async fn every_event_handled_twice_leaves_the_same_state_on_postgres() {
    every_event_handled_twice_leaves_the_same_state(world_on(true).await).await;
}

#[tokio::test]
async fn late_events_do_not_resurrect_what_is_gone_on_sqlite() {
    late_events_do_not_resurrect_what_is_gone(world_on(false).await).await;
}

#[tokio::test]
async fn late_events_do_not_resurrect_what_is_gone_on_postgres() {
    late_events_do_not_resurrect_what_is_gone(world_on(true).await).await;
}

#[tokio::test]
async fn a_missing_timeline_is_rebuilt_complete_on_read_on_sqlite() {
    a_missing_timeline_is_rebuilt_complete_on_read(world_on(false).await).await;
}

#[tokio::test]
async fn a_missing_timeline_is_rebuilt_complete_on_read_on_postgres() {
    a_missing_timeline_is_rebuilt_complete_on_read(world_on(true).await).await;
}

#[tokio::test]
async fn fan_out_reports_its_lag_and_inserts_to_metrics() {
    let w = world_on(false).await;
    let mut registry = prometheus_client::registry::Registry::with_prefix("aviary");
    let handler = TimelinesHandler::new(w.service.clone()).with_metrics(&mut registry);
    let (a, b) = (w.account("a").await, w.account("b").await);
    w.users.follow(b, a).await.unwrap();
    for o in [a, b] {
        w.service.home(o, &Page::first(20)).await.unwrap();
    }
    let p = w.post(a, "measured").await;
    let env = Envelope::new(
        "test",
        Event::PostCreated {
            post_id: p,
            author_id: a,
            visibility: Visibility::Public,
            in_reply_to_account_id: None,
            mentions: vec![],
            tags: vec![],
        },
    );
    handler.handle(&env).await.unwrap();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains("aviary_timelines_fanout_inserts_total 2"), "{text}");
    assert!(text.contains(r#"aviary_timelines_event_lag_seconds_count{kind="post.created"} 1"#), "{text}");
}

/// Every page of `owner`'s home, `limit` at a time, following `max_id`.
async fn scroll(w: &World, owner: Id, limit: usize) -> Vec<Id> {
    let mut all = Vec::new();
    let mut page = Page::first(limit);
    loop {
        let got = ids(w.service.home(owner, &page).await.unwrap());
        let Some(&last) = got.last() else { return all };
        all.extend(got);
        page = Page { max_id: Some(last), ..Page::first(limit) };
    }
}

async fn scrolling_goes_past_the_cap_to_the_oldest_post(w: World) {
    // cap 10 (see the callers): the cache holds the newest ten only.
    let (a, b, c, d) = (w.account("a").await, w.account("b").await, w.account("c").await, w.account("d").await);
    w.users.follow(c, a).await.unwrap();
    w.users.follow(c, b).await.unwrap();
    let mut want = Vec::new();
    for i in 0..37 {
        want.push(w.post(if i % 3 == 0 { b } else { a }, &format!("n{i}")).await);
        if i % 10 == 5 {
            // A reply to someone c does not follow: not in c's home, in
            // the cache or past it.
            let to_d = w.post(d, "d speaks").await;
            w.posts.create(NewPost { in_reply_to_id: Some(to_d), ..new_post(a, "a answers d") }).await.unwrap();
        }
    }
    want.reverse();
    for limit in [4, 7, 40] {
        assert_eq!(scroll(&w, c, limit).await, want, "pages of {limit}");
    }
    let cached = w.cache.len(c).await.unwrap();
    assert!(cached <= 10, "the cache holds {cached}, above its cap");
    // Newer pages (since_id) below the cache's range come from the store too.
    let since = Page { since_id: Some(want[30]), ..Page::first(40) };
    assert_eq!(ids(w.service.home(c, &since).await.unwrap()), want[..30].to_vec());
    // Fan-out keeps adding at the top; the history stays reachable.
    let newest = w.post(a, "newest").await;
    let env = Envelope::new(
        "test",
        Event::PostCreated {
            post_id: newest,
            author_id: a,
            visibility: Visibility::Public,
            in_reply_to_account_id: None,
            mentions: vec![],
            tags: vec![],
        },
    );
    w.handler.handle(&env).await.unwrap();
    want.insert(0, newest);
    assert_eq!(scroll(&w, c, 6).await, want);
}

#[tokio::test]
async fn scrolling_goes_past_the_cap_to_the_oldest_post_on_sqlite() {
    scrolling_goes_past_the_cap_to_the_oldest_post(world_capped(false, 10).await).await;
}

#[tokio::test]
async fn scrolling_goes_past_the_cap_to_the_oldest_post_on_postgres() {
    scrolling_goes_past_the_cap_to_the_oldest_post(world_capped(true, 10).await).await;
}

fn ids(entries: Vec<cache::Entry>) -> Vec<Id> {
    entries.into_iter().map(|e| e.post_id).collect()
}

/// An account that stopped reading: its timeline expires from the cache,
/// fan-out skips it, and on its return the first read rebuilds a complete
/// page from 1,000 followed accounts, in bounded time.
#[tokio::test]
async fn an_inactive_account_following_1000_reads_a_complete_first_page_on_return() {
    let dir = tempfile::tempdir().unwrap();
    let config = DbConfig::Sqlite { dir: dir.path().into() };
    let minter = Arc::new(IdGenerator::new(1));
    let users = UsersService::open(&config, minter.clone()).await.unwrap();
    let posts = PostsService::open(&config, minter).await.unwrap();
    let idle = std::time::Duration::from_millis(300);
    let cache = Arc::new(MemoryTimelineCache::with_idle_expiry(800, idle));
    let service = TimelinesService::new(cache.clone(), Arc::new(users.clone()), Arc::new(posts.clone()), 800);
    let handler = TimelinesHandler::new(service.clone());
    let w = World { _dir: dir, _pg: None, users, posts, cache, service, handler };

    let reader = w.account("reader").await;
    let mut followed = Vec::new();
    for i in 0..1000 {
        let a = w.account(&format!("author{i}")).await;
        w.users.follow(reader, a).await.unwrap();
        followed.push(a);
    }
    let mut want = Vec::new();
    for (i, a) in followed.iter().enumerate() {
        want.push(w.post(*a, &format!("first post of {i}")).await);
    }
    assert_eq!(ids(w.service.home(reader, &Page::first(20)).await.unwrap()).len(), 20);
    // Away for longer than the idle time: the timeline leaves the cache and
    // what is posted meanwhile is not fanned out to it.
    tokio::time::sleep(idle * 2).await;
    assert!(!w.cache.is_ready(reader).await.unwrap(), "an unread timeline stayed cached");
    for (i, a) in followed.iter().enumerate().take(30) {
        let p = w.post(*a, &format!("while away {i}")).await;
        let env = Envelope::new(
            "test",
            Event::PostCreated {
                post_id: p,
                author_id: *a,
                visibility: Visibility::Public,
                in_reply_to_account_id: None,
                mentions: vec![],
                tags: vec![],
            },
        );
        w.handler.handle(&env).await.unwrap();
        want.push(p);
    }
    assert_eq!(w.cache.len(reader).await.unwrap(), 0, "fan-out reached an inactive account");
    want.reverse();
    // Back: the first read is complete, not an empty "being prepared" page.
    let started = std::time::Instant::now();
    let first = ids(w.service.home(reader, &Page::first(20)).await.unwrap());
    let took = started.elapsed();
    assert_eq!(first, want[..20].to_vec());
    assert!(took < std::time::Duration::from_secs(2), "the returning read took {took:?}");
    assert_eq!(scroll(&w, reader, 40).await, want, "the whole timeline, past the cap, in order");
}

async fn home(w: &World, owner: Id) -> Vec<Id> {
    ids(w.service.home(owner, &Page::first(60)).await.unwrap())
}

/// A boost is fanned out like a post (twice changes nothing; a late one
/// for a boost taken back writes nothing), shown once in a home timeline
/// that holds its original or an earlier boost within Mastodon's 40
/// entries below it, shown again beyond them, and gone with an unboost.
async fn boosts_fan_out_once_and_fall_off_after_40(w: World) {
    let (author, booster, reader) = (w.account("author").await, w.account("booster").await, w.account("reader").await);
    w.users.follow(reader, author).await.unwrap();
    w.users.follow(reader, booster).await.unwrap();
    for o in [author, booster, reader] {
        w.service.home(o, &Page::first(20)).await.unwrap(); // materialise
    }
    let deliver_post = |id: Id, by: Id| Event::PostCreated {
        post_id: id,
        author_id: by,
        visibility: Visibility::Public,
        in_reply_to_account_id: None,
        mentions: vec![],
        tags: vec![],
    };
    let original = w.post(author, "boost me").await;
    w.twice(deliver_post(original, author), &[reader]).await;
    let boost = |b: &posts::PostRecord| Event::ReblogCreated {
        post_id: b.id,
        author_id: b.author_id,
        reblog_of_id: original,
        original_author_id: author,
        visibility: Visibility::Public,
    };
    let first = w.posts.reblog(booster, original, Visibility::Public).await.unwrap();
    let s = w.twice(boost(&first), &[author, booster, reader]).await;
    assert_eq!(s, vec![vec![original], vec![first.id], vec![first.id, original]], "held by the booster's followers");
    assert_eq!(home(&w, reader).await, vec![original], "the original is right below: the boost is not shown");
    assert_eq!(home(&w, booster).await, vec![first.id], "the booster sees its boost");

    // 39 posts later the original is still within 40 entries of a new boost.
    let mut filler = Vec::new();
    for i in 0..39 {
        let p = w.post(author, &format!("filler {i}")).await;
        w.handler.handle(&Envelope::new("test", deliver_post(p, author))).await.unwrap();
        filler.push(p);
    }
    w.posts.unreblog(booster, original).await.unwrap();
    w.twice(Event::PostDeleted { post_id: first.id, author_id: booster, tags: vec![] }, &[reader]).await;
    let again = w.posts.reblog(booster, original, Visibility::Public).await.unwrap();
    w.twice(boost(&again), &[reader]).await;
    assert_eq!(home(&w, reader).await.first(), filler.last(), "39 entries below: the original is within 40");
    // One more entry between them and the boost is shown, above its original.
    w.posts.unreblog(booster, original).await.unwrap();
    w.handler
        .handle(&Envelope::new("test", Event::PostDeleted { post_id: again.id, author_id: booster, tags: vec![] }))
        .await
        .unwrap();
    let p = w.post(author, "the 40th").await;
    w.handler.handle(&Envelope::new("test", deliver_post(p, author))).await.unwrap();
    let third = w.posts.reblog(booster, original, Visibility::Public).await.unwrap();
    w.twice(boost(&third), &[reader]).await;
    let seen = home(&w, reader).await;
    assert_eq!((seen[0], seen.len()), (third.id, 42), "40 entries below: the boost is shown");
    assert_eq!(seen.iter().filter(|&&id| id == original).count(), 1);
    // In pages of any size, the same.
    for limit in [1, 7, 40] {
        assert_eq!(scroll(&w, reader, limit).await, seen, "pages of {limit}");
    }

    // Taken back before its event arrives: the late event writes nothing.
    w.posts.unreblog(booster, original).await.unwrap();
    w.twice(Event::PostDeleted { post_id: third.id, author_id: booster, tags: vec![] }, &[reader]).await;
    w.twice(boost(&third), &[reader, booster]).await;
    assert!(!w.cached(reader).await.contains(&third.id));
    assert_eq!(home(&w, reader).await.len(), 41);
}

#[tokio::test]
async fn boosts_fan_out_once_and_fall_off_after_40_on_sqlite() {
    boosts_fan_out_once_and_fall_off_after_40(world_on(false).await).await;
}

#[tokio::test]
async fn boosts_fan_out_once_and_fall_off_after_40_on_postgres() {
    boosts_fan_out_once_and_fall_off_after_40(world_on(true).await).await;
}

/// Block, mute and follow-option events handled twice leave the same
/// state; fan-out skips a muter; lifting a mute evicts the timeline it
/// left incomplete, whose next read has everything.
async fn block_and_mute_events_handled_twice_leave_the_same_state(w: World) {
    let (a, b, c) = (w.account("a").await, w.account("b").await, w.account("c").await);
    w.users.follow(b, a).await.unwrap();
    w.users.follow(c, a).await.unwrap();
    for o in [a, b, c] {
        w.service.home(o, &Page::first(20)).await.unwrap(); // materialise
    }
    let created = |post_id: Id| Event::PostCreated {
        post_id,
        author_id: a,
        visibility: Visibility::Public,
        in_reply_to_account_id: None,
        mentions: vec![],
        tags: vec![],
    };
    let p = w.post(a, "before the mute").await;
    w.twice(created(p), &[b, c]).await;

    w.users.mute(b, a, true, None).await.unwrap();
    w.twice(Event::MuteCreated { account_id: b, target_id: a, notifications: true }, &[b]).await;
    assert!(home(&w, b).await.is_empty(), "a read hides what was fanned out before the mute");
    let q = w.post(a, "while muted").await;
    let s = w.twice(created(q), &[b, c]).await;
    assert_eq!(s, vec![vec![p], vec![q, p]], "fan-out skips the muter");
    w.users.unmute(b, a).await.unwrap();
    let s = w.twice(Event::MuteRemoved { account_id: b, target_id: a }, &[b]).await;
    assert_eq!(s, vec![Vec::<Id>::new()], "evicted: it lacked what the mute kept out");
    assert_eq!(home(&w, b).await, vec![q, p], "rebuilt complete");

    w.users.block(a, c, true).await.unwrap();
    w.twice(Event::FollowRemoved { follower_id: c, followee_id: a }, &[c]).await;
    w.twice(Event::BlockCreated { account_id: a, target_id: c }, &[c]).await;
    assert!(home(&w, c).await.is_empty());
    w.users.block(a, c, false).await.unwrap();
    w.twice(Event::BlockRemoved { account_id: a, target_id: c }, &[a, c]).await;

    let options = users::FollowOptions { reblogs: Some(false), notify: None };
    w.users.set_follow_options(b, a, options).await.unwrap();
    let hide = Event::FollowUpdated { follower_id: b, followee_id: a, show_reblogs: false, notify: false };
    w.twice(hide, &[b]).await;
    let show = Event::FollowUpdated { follower_id: b, followee_id: a, show_reblogs: true, notify: false };
    w.twice(show, &[b]).await;
    assert_eq!(home(&w, b).await, vec![q, p]);
}

#[tokio::test]
async fn block_and_mute_events_handled_twice_leave_the_same_state_on_sqlite() {
    block_and_mute_events_handled_twice_leave_the_same_state(world_on(false).await).await;
}

#[tokio::test]
async fn block_and_mute_events_handled_twice_leave_the_same_state_on_postgres() {
    block_and_mute_events_handled_twice_leave_the_same_state(world_on(true).await).await;
}

/// The `post.created` event `posts` wrote for `p`, as the bus would carry it.
fn created_event(p: &posts::PostRecord) -> Event {
    Event::PostCreated {
        post_id: p.id,
        author_id: p.author_id,
        visibility: p.visibility,
        in_reply_to_account_id: p.in_reply_to_account_id,
        mentions: p.mentions.iter().map(|m| m.id).collect(),
        tags: p.tags.iter().map(|t| t.to_lowercase()).collect(),
    }
}

/// A public post with a followed tag reaches the tag's follower, who does
/// not follow its author; a direct post reaches its author and the
/// followers it mentions, no other. Tag follows and unfollows evict the
/// home so its next read holds exactly what the followed tags give; every
/// event handled twice changes nothing, and a rebuild gives the same homes.
async fn tags_and_direct_posts_reach_only_their_homes(w: World) {
    let (a, b, c, d) = (w.account("a").await, w.account("b").await, w.account("c").await, w.account("d").await);
    w.users.follow(b, a).await.unwrap();
    w.users.follow(c, a).await.unwrap();
    let all = [a, b, c, d];
    for o in all {
        w.service.home(o, &Page::first(20)).await.unwrap(); // materialise
    }
    let mention = |id: Id, name: &str| posts::Mentioned { id, username: name.into() };
    let mut tagged = new_post(a, "#Rust news");
    let tagged = {
        w.posts.follow_tag(d, "rust", true).await.unwrap();
        let s = w.twice(Event::TagFollowed { account_id: d, tag: "rust".into() }, &all).await;
        assert!(!w.cache.is_ready(d).await.unwrap(), "evicted: {s:?}");
        w.service.home(d, &Page::first(20)).await.unwrap(); // materialise again
        tagged.visibility = Visibility::Public;
        w.posts.create(tagged).await.unwrap()
    };
    let s = w.twice(created_event(&tagged), &all).await;
    assert_eq!(s, vec![vec![tagged.id], vec![tagged.id], vec![tagged.id], vec![tagged.id]]);

    let mut private = new_post(a, "#rust for followers");
    private.visibility = Visibility::Private;
    let private = w.posts.create(private).await.unwrap();
    let s = w.twice(created_event(&private), &all).await;
    assert_eq!(s[3], vec![tagged.id], "a private post does not reach a tag's follower");

    let mut dm = new_post(a, "@b @d psst");
    dm.visibility = Visibility::Direct;
    dm.mentions = vec![mention(b, "b"), mention(d, "d")];
    let dm = w.posts.create(dm).await.unwrap();
    let s = w.twice(created_event(&dm), &all).await;
    assert_eq!(s[0], vec![dm.id, private.id, tagged.id], "the author");
    assert_eq!(s[1], vec![dm.id, private.id, tagged.id], "a mentioned follower");
    assert_eq!(s[2], vec![private.id, tagged.id], "a follower not mentioned");
    assert_eq!(s[3], vec![tagged.id], "mentioned, but not following: only its conversations show it");

    // A rebuild gives every home the same.
    let before: Vec<Vec<Id>> = futures::future::join_all(all.iter().map(|&o| home(&w, o))).await;
    for o in all {
        w.cache.evict(o).await.unwrap();
    }
    let rebuilt: Vec<Vec<Id>> = futures::future::join_all(all.iter().map(|&o| home(&w, o))).await;
    assert_eq!(rebuilt, before, "fan-out and a rebuild agree");

    // Unfollowed: gone after the eviction; deleted: gone from the follower.
    w.posts.follow_tag(d, "rust", false).await.unwrap();
    w.twice(Event::TagUnfollowed { account_id: d, tag: "rust".into() }, &[a]).await;
    assert!(home(&w, d).await.is_empty());
    w.posts.follow_tag(d, "rust", true).await.unwrap();
    w.twice(Event::TagFollowed { account_id: d, tag: "rust".into() }, &[a]).await;
    assert_eq!(home(&w, d).await, vec![tagged.id], "followed again: the rebuild brings the older post");
    w.posts.delete(tagged.id, a).await.unwrap();
    let s = w.twice(Event::PostDeleted { post_id: tagged.id, author_id: a, tags: vec!["rust".into()] }, &all).await;
    assert!(s.iter().all(|home| !home.contains(&tagged.id)), "{s:?}");
}

#[tokio::test]
async fn tags_and_direct_posts_reach_only_their_homes_on_sqlite() {
    tags_and_direct_posts_reach_only_their_homes(world_on(false).await).await;
}

#[tokio::test]
async fn tags_and_direct_posts_reach_only_their_homes_on_postgres() {
    tags_and_direct_posts_reach_only_their_homes(world_on(true).await).await;
}
