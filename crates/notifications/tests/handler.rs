//! The notifications handler records each follow exactly once, removes it
//! on unfollow, and ignores late and redelivered events — on SQLite and on
//! PostgreSQL. The service answers only an account's own notifications.

use bus::Handler;
use model::{Email, Envelope, Event, Id, IdGenerator, Page, Password, Username};
use notifications::{
    NotificationFilter, NotificationType, NotificationsApi, NotificationsError, NotificationsHandler,
    NotificationsService,
};
use std::sync::Arc;
use store::DbConfig;
use users::{SignUp, UsersApi, UsersService};

struct World {
    _dir: tempfile::TempDir,
    _pg: Option<testdb::TestDatabase>,
    users: UsersService,
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
    let service = NotificationsService::open(&config, ids, Arc::new(users.clone())).await.unwrap();
    let handler = NotificationsHandler::new(service.clone());
    World { _dir: dir, _pg: pg, users, service, handler }
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
