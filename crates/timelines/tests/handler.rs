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
    let dir = tempfile::tempdir().unwrap();
    let pg = if postgres { Some(testdb::TestDatabase::create().await) } else { None };
    let config = match &pg {
        Some(pg) => pg.config(),
        None => DbConfig::Sqlite { dir: dir.path().into() },
    };
    let ids = Arc::new(IdGenerator::new(1));
    let users = UsersService::open(&config, ids.clone()).await.unwrap();
    let posts = PostsService::open(&config, ids).await.unwrap();
    let cache = Arc::new(MemoryTimelineCache::new(800));
    let service = TimelinesService::new(cache.clone(), Arc::new(users.clone()), Arc::new(posts.clone()), 800);
    let handler = TimelinesHandler::new(service.clone());
    World { _dir: dir, _pg: pg, users, posts, cache, service, handler }
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
        self.posts
            .create(NewPost {
                author_id: author,
                text: PostText::parse(text, 500).unwrap(),
                spoiler_text: String::new(),
                sensitive: false,
                visibility: Visibility::Public,
                language: None,
                in_reply_to_id: None,
                app_name: None,
                app_website: None,
                idempotency_key: None,
            })
            .await
            .unwrap()
            .id
    }

    async fn snapshot(&self, owners: &[Id]) -> Vec<Vec<Id>> {
        let mut out = Vec::new();
        for o in owners {
            out.push(self.cache.page(*o, &Page::first(40)).await.unwrap().into_iter().map(|e| e.post_id).collect());
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
            },
            &all,
        )
        .await;
    assert_eq!(s, vec![vec![p1], vec![p1], vec![]]);

    let q = w.post(b, "by b").await;
    w.twice(
        Event::PostCreated { post_id: q, author_id: b, visibility: Visibility::Public, in_reply_to_account_id: None },
        &all,
    )
    .await;
    w.users.follow(c, b).await.unwrap();
    let s = w.twice(Event::FollowCreated { follower_id: c, followee_id: b }, &all).await;
    assert_eq!(s[2], vec![q], "c's timeline back-filled with b's post");

    w.posts.delete(p1, a).await.unwrap();
    let s = w.twice(Event::PostDeleted { post_id: p1, author_id: a }, &all).await;
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
        Event::PostCreated { post_id: p, author_id: a, visibility: Visibility::Public, in_reply_to_account_id: None },
        &[a, b],
    )
    .await;
    assert!(w.cache.page(a, &Page::first(20)).await.unwrap().is_empty());
    // follow.created delivered after the unfollow.
    let kept = w.post(a, "kept").await;
    w.users.follow(b, a).await.unwrap();
    w.users.unfollow(b, a).await.unwrap();
    w.twice(Event::FollowCreated { follower_id: b, followee_id: a }, &[b]).await;
    assert!(w.cache.page(b, &Page::first(20)).await.unwrap().is_empty(), "{kept} must not appear");
    // follow.removed delivered after a re-follow keeps the timeline.
    w.users.follow(b, a).await.unwrap();
    w.twice(Event::FollowCreated { follower_id: b, followee_id: a }, &[b]).await;
    w.twice(Event::FollowRemoved { follower_id: b, followee_id: a }, &[b]).await;
    assert_eq!(w.cache.page(b, &Page::first(20)).await.unwrap().len(), 1);
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
        Event::PostCreated { post_id: p, author_id: a, visibility: Visibility::Public, in_reply_to_account_id: None },
    );
    handler.handle(&env).await.unwrap();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains("aviary_timelines_fanout_inserts_total 2"), "{text}");
    assert!(text.contains(r#"aviary_timelines_event_lag_seconds_count{kind="post.created"} 1"#), "{text}");
}

fn ids(entries: Vec<cache::Entry>) -> Vec<Id> {
    entries.into_iter().map(|e| e.post_id).collect()
}
