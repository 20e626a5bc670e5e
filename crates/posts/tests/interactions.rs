//! Interactions on both engines. Favourites and bookmarks: once per account and post,
//! favourites counted on the post (also for readers through the record
//! cache) with an event per change, both paged newest first, looked up per
//! page, and gone with their post.
//! Pins, conversation mutes and edits below.

use cache::{MemorySharedState, SharedState};
use model::{Id, IdGenerator, Page, PostText};
use posts::{CachedPosts, Mark, NewPost, PostsApi, PostsRecords, PostsService};
use std::sync::Arc;
use std::time::Duration;
use store::DbConfig;

async fn outbox_kinds(svc: &PostsService) -> Vec<String> {
    use sqlx::Row;
    let rows = sqlx::query("SELECT envelope FROM outbox ORDER BY seq").fetch_all(&svc.db().pool).await.unwrap();
    rows.iter()
        .map(|r| {
            let envelope: serde_json::Value = serde_json::from_str(&r.get::<String, _>(0)).unwrap();
            envelope["type"].as_str().unwrap_or_default().to_string()
        })
        .filter(|k| k.starts_with("favourite."))
        .collect()
}

async fn favourites_count_once_and_page(config: DbConfig) {
    let shared: Arc<dyn SharedState> = Arc::new(MemorySharedState::new());
    let records = || PostsRecords::new(shared.clone(), Duration::from_secs(600));
    let svc = PostsService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap().with_records(records());
    let owner: Arc<dyn PostsApi> = Arc::new(svc.clone());
    let reader = CachedPosts::new(owner.clone(), records());
    let (author, fan, other) = (Id::from_i64(1), Id::from_i64(2), Id::from_i64(3));
    let mut posts = Vec::new();
    for i in 0..3 {
        posts.push(
            owner.create(NewPost::public(author, PostText::parse(&format!("p{i}"), 500).unwrap())).await.unwrap(),
        );
    }
    // The reader has the first post cached before it is favourited.
    assert_eq!(reader.get(posts[0].id).await.unwrap().unwrap().favourites_count, 0);

    for _ in 0..2 {
        assert_eq!(
            owner.mark(Mark::Favourite, fan, posts[0].id, true).await.unwrap().favourites_count,
            1,
            "again is a no-op"
        );
    }
    owner.mark(Mark::Favourite, other, posts[0].id, true).await.unwrap();
    owner.mark(Mark::Favourite, fan, posts[2].id, true).await.unwrap();
    owner.mark(Mark::Favourite, fan, posts[1].id, true).await.unwrap();
    assert_eq!(reader.get(posts[0].id).await.unwrap().unwrap().favourites_count, 2, "the cached count is current");

    // Newest favourite first: posts 1, 2, 0 (in the order favourited).
    let mine = owner.marks(Mark::Favourite, fan, &Page::first(2)).await.unwrap();
    assert_eq!(mine.iter().map(|f| f.post_id).collect::<Vec<_>>(), [posts[1].id, posts[2].id]);
    let next = Page { max_id: Some(mine[1].id), ..Page::first(2) };
    let rest = owner.marks(Mark::Favourite, fan, &next).await.unwrap();
    assert_eq!(rest.iter().map(|f| f.post_id).collect::<Vec<_>>(), [posts[0].id]);
    let back = Page { min_id: Some(rest[0].id), ..Page::first(1) };
    assert_eq!(owner.marks(Mark::Favourite, fan, &back).await.unwrap()[0].post_id, posts[2].id);
    let by = owner.marked_by(Mark::Favourite, posts[0].id, &Page::first(10)).await.unwrap();
    assert_eq!(by.iter().map(|f| f.account_id).collect::<Vec<_>>(), [other, fan]);

    let marks = owner.viewer_marks(other, &[posts[0].id, posts[1].id, Id::from_i64(999)]).await.unwrap();
    assert_eq!((marks.favourited, marks.bookmarked), (vec![posts[0].id], vec![]));
    assert_eq!(owner.viewer_marks(other, &[]).await.unwrap(), posts::ViewerMarks::default());

    // Bookmarks: private, uncounted, no event; listed as favourites are.
    for _ in 0..2 {
        assert_eq!(owner.mark(Mark::Bookmark, other, posts[1].id, true).await.unwrap().favourites_count, 1);
    }
    owner.mark(Mark::Bookmark, other, posts[0].id, true).await.unwrap();
    let saved = owner.marks(Mark::Bookmark, other, &Page::first(10)).await.unwrap();
    assert_eq!(saved.iter().map(|m| m.post_id).collect::<Vec<_>>(), [posts[0].id, posts[1].id]);
    let marks = owner.viewer_marks(other, &[posts[0].id, posts[1].id]).await.unwrap();
    assert_eq!(marks.favourited, [posts[0].id]);
    let mut bookmarked = marks.bookmarked;
    bookmarked.sort();
    assert_eq!(bookmarked, [posts[0].id, posts[1].id]);
    owner.mark(Mark::Bookmark, other, posts[1].id, false).await.unwrap();
    assert_eq!(owner.marks(Mark::Bookmark, other, &Page::first(10)).await.unwrap().len(), 1);

    for _ in 0..2 {
        assert_eq!(
            owner.mark(Mark::Favourite, other, posts[0].id, false).await.unwrap().favourites_count,
            1,
            "again is a no-op"
        );
    }
    assert!(matches!(
        owner.mark(Mark::Favourite, fan, Id::from_i64(999), true).await,
        Err(posts::PostsError::NotFound)
    ));
    // Each change once: four favourites and one removal.
    assert_eq!(
        outbox_kinds(&svc).await,
        ["favourite.created", "favourite.created", "favourite.created", "favourite.created", "favourite.removed"]
    );

    // Deleting a post takes its favourites and bookmarks with it.
    owner.delete(posts[0].id, author).await.unwrap();
    let left = owner.marks(Mark::Favourite, fan, &Page::first(10)).await.unwrap();
    assert_eq!(left.iter().map(|f| f.post_id).collect::<Vec<_>>(), [posts[1].id, posts[2].id]);
    assert!(owner.marks(Mark::Bookmark, other, &Page::first(10)).await.unwrap().is_empty());
}

async fn pins_are_the_authors_own_and_at_most_five(config: DbConfig) {
    let svc = PostsService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap();
    let (author, other) = (Id::from_i64(1), Id::from_i64(2));
    let mut posts = Vec::new();
    for i in 0..6 {
        posts.push(svc.create(NewPost::public(author, PostText::parse(&format!("p{i}"), 500).unwrap())).await.unwrap());
    }
    let foreign = svc.create(NewPost::public(other, PostText::parse("not yours", 500).unwrap())).await.unwrap();
    let refused = svc.mark(Mark::Pin, author, foreign.id, true).await;
    assert!(matches!(refused, Err(posts::PostsError::Validation(m)) if m.contains("Someone else")));
    for p in &posts[..5] {
        svc.mark(Mark::Pin, author, p.id, true).await.unwrap();
    }
    // Pinning one already pinned changes nothing; a sixth is refused.
    svc.mark(Mark::Pin, author, posts[0].id, true).await.unwrap();
    let sixth = svc.mark(Mark::Pin, author, posts[5].id, true).await;
    assert!(matches!(sixth, Err(posts::PostsError::Validation(m)) if m.contains("maximum")));
    let pinned = svc.marks(Mark::Pin, author, &Page::first(10)).await.unwrap();
    assert_eq!(
        pinned.iter().map(|m| m.post_id).collect::<Vec<_>>(),
        posts[..5].iter().rev().map(|p| p.id).collect::<Vec<_>>()
    );
    // Unpinning frees a place.
    svc.mark(Mark::Pin, author, posts[0].id, false).await.unwrap();
    svc.mark(Mark::Pin, author, posts[5].id, true).await.unwrap();
    let marks = svc.viewer_marks(author, &[posts[0].id, posts[5].id]).await.unwrap();
    assert_eq!(marks.pinned, [posts[5].id]);
}

async fn a_muted_conversation_is_every_post_of_its_thread(config: DbConfig) {
    let svc = PostsService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap();
    let (alice, bob) = (Id::from_i64(1), Id::from_i64(2));
    let text = |s: &str| PostText::parse(s, 500).unwrap();
    let root = svc.create(NewPost::public(alice, text("root"))).await.unwrap();
    let mut reply = NewPost::public(bob, text("reply"));
    reply.in_reply_to_id = Some(root.id);
    let reply = svc.create(reply).await.unwrap();
    let mut deeper = NewPost::public(alice, text("deeper"));
    deeper.in_reply_to_id = Some(reply.id);
    let deeper = svc.create(deeper).await.unwrap();
    let elsewhere = svc.create(NewPost::public(alice, text("another thread"))).await.unwrap();
    assert_eq!(deeper.conversation_id, Some(root.id), "a reply's reply is in the root's conversation");
    assert_eq!(elsewhere.conversation_id, Some(elsewhere.id));

    // Muted through the middle of the thread: all of it, nothing else; twice is once.
    for _ in 0..2 {
        svc.mute_conversation(bob, reply.id, true).await.unwrap();
    }
    let all = [root.id, reply.id, deeper.id, elsewhere.id];
    let mut muted = svc.viewer_marks(bob, &all).await.unwrap().muted;
    muted.sort();
    assert_eq!(muted, [root.id, reply.id, deeper.id]);
    assert!(svc.viewer_marks(alice, &all).await.unwrap().muted.is_empty(), "a mute is the account's own");
    svc.mute_conversation(bob, deeper.id, false).await.unwrap();
    assert!(svc.viewer_marks(bob, &all).await.unwrap().muted.is_empty());
    assert!(matches!(svc.mute_conversation(bob, Id::from_i64(999), true).await, Err(posts::PostsError::NotFound)));
}

async fn an_edit_keeps_every_version_and_reaches_cached_readers(config: DbConfig) {
    let shared: Arc<dyn SharedState> = Arc::new(MemorySharedState::new());
    let records = || PostsRecords::new(shared.clone(), Duration::from_secs(600));
    let svc = PostsService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap().with_records(records());
    let owner: Arc<dyn PostsApi> = Arc::new(svc.clone());
    let reader = CachedPosts::new(owner.clone(), records());
    let (author, other) = (Id::from_i64(1), Id::from_i64(2));
    let text = |s: &str| PostText::parse(s, 500).unwrap();
    let post = owner.create(NewPost::public(author, text("first draft"))).await.unwrap();
    assert_eq!(owner.history(post.id).await.unwrap().len(), 1, "never edited: one version");
    assert_eq!(reader.get(post.id).await.unwrap().unwrap().text, "first draft");
    let edit = |t: &str| posts::PostEdit {
        text: text(t),
        spoiler_text: "cw".into(),
        sensitive: true,
        language: Some("en".into()),
        mentions: vec![],
        poll: None,
    };
    assert!(matches!(owner.edit(post.id, other, edit("hijack")).await, Err(posts::PostsError::NotFound)));
    let edited = owner.edit(post.id, author, edit("second draft")).await.unwrap();
    assert!(edited.edited_at_ms.is_some() && edited.text == "second draft" && edited.sensitive);
    owner.edit(post.id, author, edit("final")).await.unwrap();
    let cached = reader.get(post.id).await.unwrap().unwrap();
    assert_eq!((cached.text.as_str(), cached.spoiler_text.as_str()), ("final", "cw"), "readers see the edit at once");
    let versions: Vec<String> = owner.history(post.id).await.unwrap().into_iter().map(|v| v.text).collect();
    assert_eq!(versions, ["first draft", "second draft", "final"]);
    assert_eq!(outbox_updates(&svc).await, 2);
    owner.delete(post.id, author).await.unwrap();
    assert!(matches!(owner.history(post.id).await, Err(posts::PostsError::NotFound)));
}

async fn outbox_updates(svc: &PostsService) -> usize {
    use sqlx::Row;
    let rows = sqlx::query("SELECT envelope FROM outbox").fetch_all(&svc.db().pool).await.unwrap();
    rows.iter().filter(|r| r.get::<String, _>(0).contains("post.updated")).count()
}

#[tokio::test]
async fn edits_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    an_edit_keeps_every_version_and_reaches_cached_readers(DbConfig::Sqlite { dir: dir.path().into() }).await;
}

#[tokio::test]
async fn edits_on_postgres() {
    let db = testdb::TestDatabase::create().await;
    an_edit_keeps_every_version_and_reaches_cached_readers(db.config()).await;
    db.drop().await;
}

#[tokio::test]
async fn conversations_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    a_muted_conversation_is_every_post_of_its_thread(DbConfig::Sqlite { dir: dir.path().into() }).await;
}

#[tokio::test]
async fn conversations_on_postgres() {
    let db = testdb::TestDatabase::create().await;
    a_muted_conversation_is_every_post_of_its_thread(db.config()).await;
    db.drop().await;
}

#[tokio::test]
async fn pins_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    pins_are_the_authors_own_and_at_most_five(DbConfig::Sqlite { dir: dir.path().into() }).await;
}

#[tokio::test]
async fn pins_on_postgres() {
    let db = testdb::TestDatabase::create().await;
    pins_are_the_authors_own_and_at_most_five(db.config()).await;
    db.drop().await;
}

#[tokio::test]
async fn favourites_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    favourites_count_once_and_page(DbConfig::Sqlite { dir: dir.path().into() }).await;
}

#[tokio::test]
async fn favourites_on_postgres() {
    let db = testdb::TestDatabase::create().await;
    favourites_count_once_and_page(db.config()).await;
    db.drop().await;
}
