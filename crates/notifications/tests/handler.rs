//! The notifications handler records each follow exactly once, removes it
//! on unfollow, and ignores late and redelivered events — on SQLite and on
//! PostgreSQL. The service answers only an account's own notifications.

use bus::Handler;
use model::{Email, Envelope, Event, Id, IdGenerator, Page, Password, Username};
use notifications::{
    NotificationFilter, NotificationType, NotificationsApi, NotificationsError, NotificationsHandler,
    NotificationsService,
};
use posts::{Mark, Mentioned, NewPost, PostsApi, PostsService};
use std::sync::Arc;
use store::DbConfig;
use users::{SignUp, UsersApi, UsersService};

struct World {
    _dir: tempfile::TempDir,
    _pg: Option<testdb::TestDatabase>,
    users: UsersService,
    posts: PostsService,
    service: NotificationsService,
    handler: NotificationsHandler,
}

async fn world_on(postgres: bool) -> World {
    let dir = tempfile::tempdir().unwrap();
    let pg = if postgres { Some(testdb::TestDatabase::create().await) } else { None };
    let config = match &pg {
        Some(pg) => pg.config(),
        None => DbConfig::Sqlite { dir: dir.path().into() },
    };
    let ids = Arc::new(IdGenerator::new(1));
    let users = UsersService::open(&config, ids.clone()).await.unwrap();
    let posts = PostsService::open(&config, ids.clone()).await.unwrap();
    let service =
        NotificationsService::open(&config, ids, Arc::new(users.clone()), Arc::new(posts.clone())).await.unwrap();
    let handler = NotificationsHandler::new(service.clone());
    World { _dir: dir, _pg: pg, users, posts, service, handler }
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

    async fn all(&self, account: Id) -> Vec<(NotificationType, Id)> {
        let page = Page::first(40);
        let found = self.service.list(account, &NotificationFilter::default(), &page).await.unwrap();
        found.into_iter().map(|n| (n.kind, n.from_account_id)).collect()
    }

    async fn handle(&self, event: Event) {
        self.handler.handle(&Envelope::new("users", event)).await.unwrap();
    }
}

async fn follows_are_recorded_once_and_removed_on_unfollow(postgres: bool) {
    let w = world_on(postgres).await;
    let (alice, bob, carol) = (w.account("alice").await, w.account("bob").await, w.account("carol").await);
    w.users.follow(bob, alice).await.unwrap();
    let followed = Event::FollowCreated { follower_id: bob, followee_id: alice };
    w.handle(followed.clone()).await;
    w.handle(followed.clone()).await; // redelivered
    assert_eq!(w.all(alice).await, [(NotificationType::Follow, bob)]);
    assert!(w.all(bob).await.is_empty(), "the follower is not notified of their own action");

    // Another account's notification is not found, not dismissed.
    let id = w.service.list(alice, &NotificationFilter::default(), &Page::first(5)).await.unwrap()[0].id;
    assert_eq!(w.service.get(carol, id).await.unwrap(), None);
    assert!(matches!(w.service.dismiss(carol, id).await, Err(NotificationsError::NotFound)));
    assert!(w.service.get(alice, id).await.unwrap().is_some());

    w.users.unfollow(bob, alice).await.unwrap();
    let unfollowed = Event::FollowRemoved { follower_id: bob, followee_id: alice };
    w.handle(unfollowed.clone()).await;
    assert!(w.all(alice).await.is_empty());
    // The follow's event arriving late, after the unfollow, changes nothing.
    w.handle(followed).await;
    assert!(w.all(alice).await.is_empty());

    // Followed again: the late unfollow of the first time removes nothing.
    w.users.follow(bob, alice).await.unwrap();
    w.handle(Event::FollowCreated { follower_id: bob, followee_id: alice }).await;
    w.handle(unfollowed).await;
    assert_eq!(w.all(alice).await, [(NotificationType::Follow, bob)]);
}

#[tokio::test]
async fn follows_are_recorded_once_and_removed_on_unfollow_on_sqlite() {
    follows_are_recorded_once_and_removed_on_unfollow(false).await;
}

#[tokio::test]
async fn follows_are_recorded_once_and_removed_on_unfollow_on_postgres() {
    follows_are_recorded_once_and_removed_on_unfollow(true).await;
}

async fn filters_paging_dismiss_and_clear(postgres: bool) {
    let w = world_on(postgres).await;
    let alice = w.account("alice").await;
    let mut followers = Vec::new();
    for i in 0..5 {
        let f = w.account(&format!("f{i}")).await;
        w.users.follow(f, alice).await.unwrap();
        w.handle(Event::FollowCreated { follower_id: f, followee_id: alice }).await;
        followers.push(f);
    }
    let all = w.service.list(alice, &NotificationFilter::default(), &Page::first(40)).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|p| p[0].id > p[1].id), "newest first");
    // Keyset pages: two, then the rest below the last.
    let first = w.service.list(alice, &NotificationFilter::default(), &Page::first(2)).await.unwrap();
    let rest = Page { max_id: Some(first[1].id), ..Page::first(40) };
    let rest = w.service.list(alice, &NotificationFilter::default(), &rest).await.unwrap();
    assert_eq!(
        first.iter().chain(&rest).map(|n| n.id).collect::<Vec<_>>(),
        all.iter().map(|n| n.id).collect::<Vec<_>>()
    );
    // min_id: the ones just above, newest first.
    let above = Page { min_id: Some(all[4].id), ..Page::first(2) };
    let above = w.service.list(alice, &NotificationFilter::default(), &above).await.unwrap();
    assert_eq!(above.iter().map(|n| n.id).collect::<Vec<_>>(), [all[2].id, all[3].id]);
    // Filters.
    let excluded = NotificationFilter { exclude_types: vec![NotificationType::Follow], ..Default::default() };
    assert!(w.service.list(alice, &excluded, &Page::first(40)).await.unwrap().is_empty());
    let only_other = NotificationFilter { types: Some(vec![]), ..Default::default() };
    assert!(w.service.list(alice, &only_other, &Page::first(40)).await.unwrap().is_empty());
    let from = NotificationFilter { from_account: Some(followers[2]), ..Default::default() };
    let one = w.service.list(alice, &from, &Page::first(40)).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].from_account_id, followers[2]);
    // Dismiss one, then clear the rest.
    w.service.dismiss(alice, one[0].id).await.unwrap();
    assert_eq!(w.all(alice).await.len(), 4);
    w.service.clear(alice).await.unwrap();
    assert!(w.all(alice).await.is_empty());
}

#[tokio::test]
async fn filters_paging_dismiss_and_clear_on_sqlite() {
    filters_paging_dismiss_and_clear(false).await;
}

#[tokio::test]
async fn filters_paging_dismiss_and_clear_on_postgres() {
    filters_paging_dismiss_and_clear(true).await;
}

fn post_by(author: Id, text: &str, mentions: &[Id]) -> NewPost {
    let mut p = NewPost::public(author, model::PostText::parse(text, 500).unwrap());
    p.mentions = mentions.iter().map(|&id| Mentioned { id, username: format!("u{id}") }).collect();
    p
}

fn created(p: &posts::PostRecord) -> Event {
    Event::PostCreated {
        post_id: p.id,
        author_id: p.author_id,
        visibility: p.visibility,
        in_reply_to_account_id: p.in_reply_to_account_id,
        mentions: p.mentions.iter().map(|m| m.id).collect(),
        tags: vec![],
    }
}

/// Favourites, boosts, mentions and follow requests notify once each
/// (handled twice, one row), never for one's own action, never across a
/// block, a mute of notifications or a muted conversation, and go when
/// undone: an unfavourite, an unboost, a deleted post, an answered request.
async fn interactions_notify_once_and_go_when_undone(postgres: bool) {
    let w = world_on(postgres).await;
    let (a, b, c) = (w.account("alice").await, w.account("bob").await, w.account("carol").await);
    let twice = |e: Event| {
        let w = &w;
        async move {
            w.handle(e.clone()).await;
            w.handle(e).await;
        }
    };
    let p = w.posts.create(post_by(a, "hello", &[])).await.unwrap();

    // Favourites: once; not one's own; gone with the unfavourite, and a
    // late favourite event after it brings nothing back.
    w.posts.mark(Mark::Favourite, b, p.id, true).await.unwrap();
    let fav = Event::FavouriteCreated { account_id: b, post_id: p.id, author_id: a };
    twice(fav.clone()).await;
    w.posts.mark(Mark::Favourite, a, p.id, true).await.unwrap();
    twice(Event::FavouriteCreated { account_id: a, post_id: p.id, author_id: a }).await;
    assert_eq!(w.all(a).await, [(NotificationType::Favourite, b)]);
    let listed = w.service.list(a, &NotificationFilter::default(), &Page::first(5)).await.unwrap();
    assert_eq!(listed[0].status_id, Some(p.id));
    w.posts.mark(Mark::Favourite, b, p.id, false).await.unwrap();
    twice(Event::FavouriteRemoved { account_id: b, post_id: p.id, author_id: a }).await;
    twice(fav).await;
    assert!(w.all(a).await.is_empty());

    // A boost: about the boosted post, named by the boost; gone with it.
    let boost = w.posts.reblog(c, p.id, model::Visibility::Public).await.unwrap();
    let boosted = Event::ReblogCreated {
        post_id: boost.id,
        author_id: c,
        reblog_of_id: p.id,
        original_author_id: a,
        visibility: model::Visibility::Public,
    };
    twice(boosted.clone()).await;
    assert_eq!(w.all(a).await, [(NotificationType::Reblog, c)]);
    w.posts.unreblog(c, p.id).await.unwrap();
    twice(Event::PostDeleted { post_id: boost.id, author_id: c, tags: vec![] }).await;
    twice(boosted).await;
    assert!(w.all(a).await.is_empty(), "a late boost event after the unboost brings nothing back");

    // Mentions: each mentioned account once, not the author.
    let q = w.posts.create(post_by(c, "@alice @bob @carol look", &[a, b, c])).await.unwrap();
    twice(created(&q)).await;
    assert_eq!(w.all(a).await, [(NotificationType::Mention, c)]);
    assert_eq!(w.all(b).await, [(NotificationType::Mention, c)]);
    assert!(w.all(c).await.is_empty());

    // Blocks, muted notifications, muted conversations: nothing.
    w.users.block(b, c, true).await.unwrap();
    w.users.mute(a, c, true, None).await.unwrap();
    let r = w.posts.create(post_by(c, "@alice @bob again", &[a, b])).await.unwrap();
    twice(created(&r)).await;
    assert_eq!(w.all(a).await.len(), 1, "muted with notifications: {:?}", w.all(a).await);
    assert_eq!(w.all(b).await.len(), 1, "blocked");
    w.users.unmute(a, c).await.unwrap();
    w.posts.mute_conversation(a, q.id, true).await.unwrap();
    let mut reply = post_by(c, "@alice in the muted thread", &[a]);
    reply.in_reply_to_id = Some(q.id);
    let reply = w.posts.create(reply).await.unwrap();
    twice(created(&reply)).await;
    assert_eq!(w.all(a).await.len(), 1, "a muted conversation");

    // A deleted post takes its notifications; its late creation event adds none.
    w.posts.delete(q.id, c).await.unwrap();
    twice(Event::PostDeleted { post_id: q.id, author_id: c, tags: vec![] }).await;
    twice(created(&q)).await;
    assert!(w.all(a).await.is_empty() && w.all(b).await.is_empty());

    // A follow request notifies the locked account until it is answered.
    w.users.update_profile(a, None, None, Some(true)).await.unwrap();
    let d = w.account("dave").await;
    w.users.follow(d, a).await.unwrap();
    twice(Event::FollowRequestCreated { follower_id: d, followee_id: a }).await;
    assert_eq!(w.all(a).await, [(NotificationType::FollowRequest, d)]);
    w.users.answer_follow_request(a, d, true).await.unwrap();
    twice(Event::FollowCreated { follower_id: d, followee_id: a }).await;
    assert_eq!(w.all(a).await, [(NotificationType::Follow, d)], "the request became a follow");
}

#[tokio::test]
async fn interactions_notify_once_and_go_when_undone_on_sqlite() {
    interactions_notify_once_and_go_when_undone(false).await;
}

#[tokio::test]
async fn interactions_notify_once_and_go_when_undone_on_postgres() {
    interactions_notify_once_and_go_when_undone(true).await;
}

/// Posts of an account followed with `notify` (not its replies to others,
/// nor its direct posts), edits of a boosted post (each edit once per
/// booster) and ended polls (each voter and the author) notify once each.
async fn posts_edits_and_polls_notify_those_who_asked_or_took_part(postgres: bool) {
    let w = world_on(postgres).await;
    let (a, b, c) = (w.account("alice").await, w.account("bob").await, w.account("carol").await);
    let twice = |e: Event| {
        let w = &w;
        async move {
            let env = Envelope::new("posts", e);
            w.handler.handle(&env).await.unwrap();
            w.handler.handle(&env).await.unwrap();
        }
    };
    w.users.follow(b, a).await.unwrap();
    w.users.set_follow_options(b, a, users::FollowOptions { reblogs: None, notify: Some(true) }).await.unwrap();
    w.users.follow(c, a).await.unwrap();
    let p = w.posts.create(post_by(a, "news", &[])).await.unwrap();
    twice(created(&p)).await;
    assert_eq!(w.all(b).await, [(NotificationType::Status, a)], "asked to be notified");
    assert!(w.all(c).await.is_empty(), "a follower who did not ask");
    let mut reply = post_by(a, "@carol a reply", &[c]);
    reply.in_reply_to_id = Some(w.posts.create(post_by(c, "hi", &[])).await.unwrap().id);
    let reply = w.posts.create(reply).await.unwrap();
    twice(created(&reply)).await;
    assert_eq!(w.all(b).await.len(), 1, "not for a reply to someone else");
    let mut dm = post_by(a, "@carol psst", &[c]);
    dm.visibility = model::Visibility::Direct;
    let dm = w.posts.create(dm).await.unwrap();
    twice(created(&dm)).await;
    assert_eq!(w.all(b).await.len(), 1, "not for a direct post");

    // Edits: each booster, once per edit.
    w.posts.reblog(c, p.id, model::Visibility::Public).await.unwrap();
    for _ in 0..2 {
        twice(Event::PostUpdated { post_id: p.id, author_id: a }).await;
    }
    let updates = w.all(c).await.into_iter().filter(|n| n.0 == NotificationType::Update).count();
    assert_eq!(updates, 2, "two edits, each once");

    // An ended poll: its voters and its author.
    let mut poll = post_by(a, "which?", &[]);
    poll.poll = Some(posts::NewPoll {
        options: vec!["x".into(), "y".into()],
        expires_in_secs: 3600,
        multiple: false,
        hide_totals: false,
    });
    let poll = w.posts.create(poll).await.unwrap();
    w.posts.vote(b, poll.id, &[0]).await.unwrap();
    twice(Event::PollEnded { post_id: poll.id, author_id: a }).await;
    let polls = |who: Id| {
        let w = &w;
        async move { w.all(who).await.into_iter().filter(|n| n.0 == NotificationType::Poll).count() }
    };
    assert_eq!((polls(a).await, polls(b).await, polls(c).await), (1, 1, 0));
    // Deleting the post takes them all.
    w.posts.delete(poll.id, a).await.unwrap();
    twice(Event::PostDeleted { post_id: poll.id, author_id: a, tags: vec![] }).await;
    assert_eq!((polls(a).await, polls(b).await), (0, 0));
}

#[tokio::test]
async fn posts_edits_and_polls_notify_on_sqlite() {
    posts_edits_and_polls_notify_those_who_asked_or_took_part(false).await;
}

#[tokio::test]
async fn posts_edits_and_polls_notify_on_postgres() {
    posts_edits_and_polls_notify_those_who_asked_or_took_part(true).await;
}

/// Markers: set, read back with their versions; concurrent writes each
/// succeed or answer a conflict, and the version counts the successes;
/// the unread count is what lies above the notifications marker.
async fn markers_count_their_versions_and_bound_the_unread(postgres: bool) {
    use notifications::MarkerTimeline::{Home, Notifications};
    let w = Arc::new(world_on(postgres).await);
    let (a, b) = (w.account("alice").await, w.account("bob").await);
    assert!(w.service.markers(a, &[Home, Notifications]).await.unwrap().is_empty());
    let set = w.service.set_markers(a, &[(Home, Id::from_i64(10))]).await.unwrap();
    assert_eq!((set.len(), set[0].last_read_id, set[0].version), (1, Id::from_i64(10), 1));
    w.service.set_markers(a, &[(Home, Id::from_i64(12)), (Notifications, Id::from_i64(1))]).await.unwrap();
    let both = w.service.markers(a, &[Home, Notifications]).await.unwrap();
    assert_eq!(both.iter().map(|m| (m.timeline, m.version)).collect::<Vec<_>>(), [(Home, 2), (Notifications, 1)]);
    assert_eq!(w.service.markers(a, &[Notifications]).await.unwrap().len(), 1, "only those asked for");
    assert!(w.service.markers(b, &[Home]).await.unwrap().is_empty(), "another account's are its own");

    let writes = (0..8).map(|i| {
        let w = w.clone();
        async move { w.service.set_markers(a, &[(Home, Id::from_i64(100 + i))]).await }
    });
    let mut succeeded = 0;
    for r in futures::future::join_all(writes).await {
        match r {
            Ok(_) => succeeded += 1,
            Err(NotificationsError::Conflict) => {}
            Err(e) => panic!("a concurrent marker write failed otherwise: {e}"),
        }
    }
    assert!(succeeded >= 1);
    let home = w.service.markers(a, &[Home]).await.unwrap()[0];
    assert_eq!(home.version, 2 + succeeded, "each success one version");

    // Unread: notifications above the marker, of the types asked for.
    for who in ["carol", "dave", "erin"] {
        let f = w.account(who).await;
        w.users.follow(f, a).await.unwrap();
        w.handle(Event::FollowCreated { follower_id: f, followee_id: a }).await;
    }
    let all = NotificationFilter::default();
    assert_eq!(w.service.unread_count(a, &all, 100).await.unwrap(), 3);
    assert_eq!(w.service.unread_count(a, &all, 2).await.unwrap(), 2, "up to the limit");
    let listed = w.service.list(a, &all, &Page::first(5)).await.unwrap();
    w.service.set_markers(a, &[(Notifications, listed[1].id)]).await.unwrap();
    assert_eq!(w.service.unread_count(a, &all, 100).await.unwrap(), 1);
    let none = NotificationFilter { types: Some(vec![NotificationType::Mention]), ..Default::default() };
    assert_eq!(w.service.unread_count(a, &none, 100).await.unwrap(), 0);
}

#[tokio::test]
async fn markers_on_sqlite() {
    markers_count_their_versions_and_bound_the_unread(false).await;
}

#[tokio::test]
async fn markers_on_postgres() {
    markers_count_their_versions_and_bound_the_unread(true).await;
}
