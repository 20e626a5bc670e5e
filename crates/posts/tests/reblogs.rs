//! Boosts on both engines: one per account and post (boosting a boost
//! boosts its original), counted on the original (also for readers through
//! the record cache), refused for another's private post, listed by
//! `reblogged_by` newest first, in the viewer's marks, an event each, and
//! gone — each with its own `post.deleted` — when taken back or when the
//! original is deleted. Many concurrent boosts of one post count exactly.

use cache::{MemorySharedState, SharedState};
use model::{Id, IdGenerator, Page, PostText, Visibility};
use posts::{AuthorFilter, CachedPosts, NewPost, PostsApi, PostsError, PostsRecords, PostsService};
use std::sync::Arc;
use std::time::Duration;
use store::DbConfig;

/// The outbox's events of `kinds`, as (type, post id) pairs, in order.
async fn events(svc: &PostsService, kinds: &[&str]) -> Vec<(String, Id)> {
    use sqlx::Row;
    let rows = sqlx::query("SELECT envelope FROM outbox ORDER BY seq").fetch_all(&svc.db().pool).await.unwrap();
    rows.iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.get::<String, _>(0)).unwrap())
        .filter(|e| kinds.contains(&e["type"].as_str().unwrap_or_default()))
        .map(|e| {
            let id: Id = e["payload"]["post_id"].as_str().unwrap().parse().unwrap();
            (e["type"].as_str().unwrap().to_string(), id)
        })
        .collect()
}

fn text(s: &str) -> PostText {
    PostText::parse(s, 500).unwrap()
}

async fn boosts_count_once_and_go_with_their_original(config: DbConfig) {
    let shared: Arc<dyn SharedState> = Arc::new(MemorySharedState::new());
    let records = || PostsRecords::new(shared.clone(), Duration::from_secs(600));
    let svc = PostsService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap().with_records(records());
    let owner: Arc<dyn PostsApi> = Arc::new(svc.clone());
    let reader = CachedPosts::new(owner.clone(), records());
    let (author, fan, other) = (Id::from_i64(1), Id::from_i64(2), Id::from_i64(3));
    let original = owner.create(NewPost::public(author, text("boost me"))).await.unwrap();
    assert_eq!(reader.get(original.id).await.unwrap().unwrap().reblogs_count, 0, "cached before the boosts");

    // A reader's cached marks of the page follow every change the viewer makes.
    let page = [original.id];
    assert!(reader.viewer_marks(fan, &page).await.unwrap().reblogged.is_empty());
    let boost = owner.reblog(fan, original.id, Visibility::Unlisted).await.unwrap();
    assert_eq!(reader.viewer_marks(fan, &page).await.unwrap().reblogged, page, "cached marks renewed by the boost");
    owner.mark(posts::Mark::Favourite, fan, original.id, true).await.unwrap();
    assert_eq!(reader.viewer_marks(fan, &page).await.unwrap().favourited, page, "and by a favourite");
    owner.mark(posts::Mark::Favourite, fan, original.id, false).await.unwrap();
    owner.mute_conversation(fan, original.id, true).await.unwrap();
    let marks = reader.viewer_marks(fan, &page).await.unwrap();
    assert_eq!((marks.favourited.len(), marks.muted.clone()), (0, page.to_vec()), "and by a conversation mute");
    owner.mute_conversation(fan, original.id, false).await.unwrap();
    assert_eq!((boost.author_id, boost.reblog_of_id, boost.visibility), (fan, Some(original.id), Visibility::Unlisted));
    assert_eq!(boost.text, "");
    // Again, and through the boost itself: the same boost.
    assert_eq!(owner.reblog(fan, original.id, Visibility::Public).await.unwrap().id, boost.id);
    assert_eq!(owner.reblog(fan, boost.id, Visibility::Public).await.unwrap().id, boost.id);
    let other_boost = owner.reblog(other, boost.id, Visibility::Public).await.unwrap();
    assert_eq!(other_boost.reblog_of_id, Some(original.id), "a boost of a boost boosts the original");
    assert_eq!(reader.get(original.id).await.unwrap().unwrap().reblogs_count, 2, "the cached count is current");
    assert_eq!(reader.author_stats(&[fan]).await.unwrap()[0].statuses_count, 1, "a boost counts as a status");

    let by = owner.reblogged_by(original.id, &Page::first(10)).await.unwrap();
    assert_eq!(by.iter().map(|b| (b.id, b.account_id)).collect::<Vec<_>>(), [(other_boost.id, other), (boost.id, fan)]);
    let next = owner.reblogged_by(original.id, &Page { max_id: Some(by[0].id), ..Page::first(10) }).await.unwrap();
    assert_eq!(next.iter().map(|b| b.account_id).collect::<Vec<_>>(), [fan]);
    let marks = owner.viewer_marks(fan, &[original.id, boost.id]).await.unwrap();
    assert_eq!(marks.reblogged, [original.id]);
    assert!(owner.viewer_marks(author, &[original.id]).await.unwrap().reblogged.is_empty());

    // The booster's statuses hold the boost, unless boosts are left out;
    // the public timeline never does.
    let all = AuthorFilter::default();
    assert_eq!(owner.by_author(fan, all.clone(), &Page::first(5)).await.unwrap(), vec![boost.clone()]);
    let no_boosts = AuthorFilter { exclude_reblogs: true, ..all };
    assert!(owner.by_author(fan, no_boosts, &Page::first(5)).await.unwrap().is_empty());
    assert_eq!(owner.public(&Page::first(10)).await.unwrap().iter().map(|p| p.id).collect::<Vec<_>>(), [original.id]);
    let refs = owner.recent_by_authors(&[fan, author], None, 10).await.unwrap();
    assert_eq!(refs[0].reblog_of, Some(original.id), "timelines learn what a boost shows");

    // Edits and pins are for posts, not boosts.
    let edit = posts::PostEdit {
        text: text("x"),
        spoiler_text: String::new(),
        sensitive: false,
        language: None,
        mentions: vec![],
        poll: None,
    };
    assert!(matches!(owner.edit(boost.id, fan, edit).await, Err(PostsError::NotFound)));
    assert!(matches!(owner.mark(posts::Mark::Pin, fan, boost.id, true).await, Err(PostsError::Validation(_))));

    // Taking it back: the original as it now is; again changes nothing.
    for named in [boost.id, original.id] {
        let back = owner.unreblog(fan, named).await.unwrap();
        assert_eq!((back.id, back.reblogs_count), (original.id, 1));
    }
    assert!(reader.viewer_marks(fan, &page).await.unwrap().reblogged.is_empty(), "the unboost renewed them");
    assert!(owner.get(boost.id).await.unwrap().is_none());
    assert!(reader.get(boost.id).await.unwrap().is_none(), "readers see it gone");
    assert_eq!(reader.author_stats(&[fan]).await.unwrap()[0].statuses_count, 0);

    // The original deleted: its boosts go with it, each a deletion.
    owner.delete(original.id, author).await.unwrap();
    assert!(owner.get(other_boost.id).await.unwrap().is_none());
    assert!(reader.get(other_boost.id).await.unwrap().is_none());
    assert_eq!(reader.author_stats(&[other]).await.unwrap()[0].statuses_count, 0);
    assert!(matches!(owner.reblog(fan, original.id, Visibility::Public).await, Err(PostsError::NotFound)));
    assert!(matches!(owner.unreblog(fan, original.id).await, Err(PostsError::NotFound)));
    let kinds = ["reblog.created", "post.deleted"];
    assert_eq!(
        events(&svc, &kinds).await,
        [
            ("reblog.created".to_string(), boost.id),
            ("reblog.created".to_string(), other_boost.id),
            ("post.deleted".to_string(), boost.id),
            ("post.deleted".to_string(), original.id),
            ("post.deleted".to_string(), other_boost.id),
        ],
        "one event per change, none for repeats"
    );
}

async fn private_posts_are_boosted_only_by_their_author(config: DbConfig) {
    let owner = PostsService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap();
    let (author, fan) = (Id::from_i64(1), Id::from_i64(2));
    let private = NewPost { visibility: Visibility::Private, ..NewPost::public(author, text("followers only")) };
    let private = owner.create(private).await.unwrap();
    let refused = owner.reblog(fan, private.id, Visibility::Public).await;
    assert!(matches!(refused, Err(PostsError::Validation(_))), "{refused:?}");
    // The author may, and the boost stays private whatever was asked.
    let own = owner.reblog(author, private.id, Visibility::Public).await.unwrap();
    assert_eq!(own.visibility, Visibility::Private);
    assert_eq!(owner.get(private.id).await.unwrap().unwrap().reblogs_count, 1);
}

async fn concurrent_boosts_count_exactly(config: DbConfig) {
    let owner = Arc::new(PostsService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap());
    let original = owner.create(NewPost::public(Id::from_i64(1), text("viral"))).await.unwrap();
    // 12 accounts, each boosting three times at once and taking one back.
    let tasks: Vec<_> = (0..36)
        .map(|i| {
            let owner = owner.clone();
            tokio::spawn(async move { owner.reblog(Id::from_i64(100 + i % 12), original.id, Visibility::Public).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for i in 0..4 {
        owner.unreblog(Id::from_i64(100 + i), original.id).await.unwrap();
    }
    assert_eq!(owner.get(original.id).await.unwrap().unwrap().reblogs_count, 8);
    assert_eq!(owner.reblogged_by(original.id, &Page::first(40)).await.unwrap().len(), 8);
}

#[tokio::test]
async fn boosts_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    boosts_count_once_and_go_with_their_original(DbConfig::Sqlite { dir: dir.path().into() }).await;
    let dir = tempfile::tempdir().unwrap();
    private_posts_are_boosted_only_by_their_author(DbConfig::Sqlite { dir: dir.path().into() }).await;
    let dir = tempfile::tempdir().unwrap();
    concurrent_boosts_count_exactly(DbConfig::Sqlite { dir: dir.path().into() }).await;
}

#[tokio::test]
async fn boosts_on_postgres() {
    let db = testdb::TestDatabase::create().await;
    boosts_count_once_and_go_with_their_original(db.config()).await;
    db.drop().await;
    let db = testdb::TestDatabase::create().await;
    private_posts_are_boosted_only_by_their_author(db.config()).await;
    db.drop().await;
    let db = testdb::TestDatabase::create().await;
    concurrent_boosts_count_exactly(db.config()).await;
    db.drop().await;
}
