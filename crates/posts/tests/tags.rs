//! What a post's text names, on both engines: mentions and hashtags stored
//! with the post (and through the record cache), the tag timeline with
//! `any`, `all` and `none`, a tag's daily use, tag follows with an event
//! per change, the posts a followed tag brings, direct posts on the
//! author's list only for those addressed, and direct conversations.

use cache::{MemorySharedState, SharedState};
use model::{Id, IdGenerator, Page, PostText, Visibility};
use posts::{
    AuthorFilter, CachedPosts, Mentioned, NewPost, PostsApi, PostsError, PostsRecords, PostsService, TagQuery,
};
use std::sync::Arc;
use std::time::Duration;
use store::DbConfig;

fn post(author: Id, text: &str, visibility: Visibility, mentions: &[(Id, &str)]) -> NewPost {
    let mut p = NewPost::public(author, PostText::parse(text, 500).unwrap());
    p.visibility = visibility;
    p.mentions = mentions.iter().map(|(id, u)| Mentioned { id: *id, username: u.to_string() }).collect();
    p
}

/// The outbox's events of `kind`, their payloads, in order.
async fn payloads(svc: &PostsService, kind: &str) -> Vec<serde_json::Value> {
    use sqlx::Row;
    let rows = sqlx::query("SELECT envelope FROM outbox ORDER BY seq").fetch_all(&svc.db().pool).await.unwrap();
    rows.iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.get::<String, _>(0)).unwrap())
        .filter(|e| e["type"] == kind)
        .map(|e| e["payload"].clone())
        .collect()
}

fn ids(posts: &[posts::PostRecord]) -> Vec<Id> {
    posts.iter().map(|p| p.id).collect()
}

fn tags(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

async fn what_a_text_names_is_kept_and_queried(config: DbConfig) {
    let shared: Arc<dyn SharedState> = Arc::new(MemorySharedState::new());
    let records = || PostsRecords::new(shared.clone(), Duration::from_secs(600));
    let svc = PostsService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap().with_records(records());
    let owner: Arc<dyn PostsApi> = Arc::new(svc.clone());
    let reader = CachedPosts::new(owner.clone(), records());
    let (a, b, c) = (Id::from_i64(1), Id::from_i64(2), Id::from_i64(3));

    let first =
        owner.create(post(a, "@b look: #Rust #rust #Zürich", Visibility::Public, &[(b, "b"), (b, "b")])).await.unwrap();
    assert_eq!(first.mentions, [Mentioned { id: b, username: "b".into() }], "each account once");
    assert_eq!(first.tags, ["Rust", "Zürich"]);
    let cached = reader.get(first.id).await.unwrap().unwrap();
    assert_eq!((cached.mentions.clone(), cached.tags.clone()), (first.mentions.clone(), first.tags.clone()));
    let created = payloads(&svc, "post.created").await;
    assert_eq!(created[0]["mentions"], serde_json::json!([b.to_string()]));
    assert_eq!(created[0]["tags"], serde_json::json!(["rust", "zürich"]));

    let both = owner.create(post(b, "#rust and #Go", Visibility::Public, &[])).await.unwrap();
    owner.create(post(a, "#rust private", Visibility::Private, &[])).await.unwrap();
    let q = |any: &[&str], all: &[&str], none: &[&str]| TagQuery { any: tags(any), all: tags(all), none: tags(none) };
    let page = Page::first(20);
    let tl = |query: TagQuery| {
        let owner = owner.clone();
        async move { ids(&owner.tag_timeline(&query, &page).await.unwrap()) }
    };
    assert_eq!(tl(q(&["rust"], &[], &[])).await, [both.id, first.id], "public posts only");
    assert_eq!(tl(q(&["rust"], &["go"], &[])).await, [both.id]);
    assert_eq!(tl(q(&["rust"], &[], &["go"])).await, [first.id]);
    assert_eq!(tl(q(&["go", "zürich"], &[], &[])).await, [both.id, first.id]);
    assert_eq!(tl(q(&["rust"], &["go", "zürich"], &[])).await, Vec::<Id>::new());
    let tagged = |t: &str| AuthorFilter { tagged: Some(t.into()), include_private: true, ..AuthorFilter::default() };
    assert_eq!(ids(&owner.by_author(b, tagged("go"), &page).await.unwrap()), [both.id]);
    assert_eq!(owner.by_author(a, tagged("rust"), &page).await.unwrap().len(), 2, "with the private one");
    assert!(owner.by_author(a, tagged("go"), &page).await.unwrap().is_empty());
    let older = Page { max_id: Some(both.id), ..Page::first(20) };
    assert_eq!(ids(&owner.tag_timeline(&q(&["rust"], &[], &[]), &older).await.unwrap()), [first.id]);

    // A tag's use today: two public posts by two accounts (the private one
    // does not count), and nothing the days before.
    let rust = owner.tag("RUST", Some(c)).await.unwrap();
    assert_eq!(rust.name, "Rust", "as first written");
    assert_eq!(rust.history.len(), 7);
    assert_eq!((rust.history[0].1, rust.history[0].2), (2, 2));
    assert!(rust.history[1..].iter().all(|d| d.1 == 0));
    assert!(rust.history[0].0 > rust.history[1].0, "today first");
    assert!(!rust.following);

    // Following: once, an event per change, listed newest first.
    for _ in 0..2 {
        assert!(owner.follow_tag(c, "rust", true).await.unwrap().following);
    }
    owner.follow_tag(c, "Neu", true).await.unwrap();
    let followed = owner.followed_tags(c, &Page::first(10)).await.unwrap();
    assert_eq!(followed.iter().map(|t| t.1.name.as_str()).collect::<Vec<_>>(), ["Neu", "Rust"]);
    let next = Page { max_id: Some(followed[0].0), ..Page::first(10) };
    assert_eq!(owner.followed_tags(c, &next).await.unwrap().len(), 1);
    assert_eq!(owner.tag_followers(&tags(&["rust", "go"])).await.unwrap(), [c]);
    assert_eq!(payloads(&svc, "tag.followed").await.len(), 2);
    let tagged: Vec<Id> = owner.recent_tagged_for(c, None, 10).await.unwrap().iter().map(|p| p.post_id).collect();
    assert_eq!(tagged, [both.id, first.id]);
    let up: Vec<Id> = owner.earliest_tagged_for(c, first.id, 10).await.unwrap().iter().map(|p| p.post_id).collect();
    assert_eq!(up, [both.id]);
    for _ in 0..2 {
        assert!(!owner.follow_tag(c, "rust", false).await.unwrap().following);
    }
    assert_eq!(payloads(&svc, "tag.unfollowed").await.len(), 1);
    assert!(owner.recent_tagged_for(c, None, 10).await.unwrap().is_empty());

    // An edit parses again; a deletion takes the tags along, named in its event.
    let edit = posts::PostEdit {
        text: PostText::parse("#Go now", 500).unwrap(),
        spoiler_text: String::new(),
        sensitive: false,
        language: None,
        mentions: vec![],
        poll: None,
    };
    let edited = owner.edit(first.id, a, edit).await.unwrap();
    assert_eq!((edited.tags.clone(), edited.mentions.len()), (vec!["Go".to_string()], 0));
    assert_eq!(tl(q(&["zürich"], &[], &[])).await, Vec::<Id>::new());
    owner.delete(both.id, b).await.unwrap();
    assert_eq!(tl(q(&["go"], &[], &[])).await, [first.id]);
    let deleted = payloads(&svc, "post.deleted").await;
    assert_eq!(deleted[0]["tags"], serde_json::json!(["rust", "go"]));
}

async fn direct_posts_are_for_their_addressees(config: DbConfig) {
    let svc = PostsService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap();
    let owner: Arc<dyn PostsApi> = Arc::new(svc.clone());
    let (a, b, c) = (Id::from_i64(1), Id::from_i64(2), Id::from_i64(3));
    let public = owner.create(post(a, "hello", Visibility::Public, &[])).await.unwrap();
    let dm = owner.create(post(a, "@b psst", Visibility::Direct, &[(b, "b")])).await.unwrap();
    assert_eq!(dm.visibility, Visibility::Direct);

    // On the author's list: for the author and the mentioned only.
    let list = |viewer: Option<Id>| {
        let owner = owner.clone();
        let filter = AuthorFilter { include_private: true, direct_for: viewer, ..Default::default() };
        async move { owner.by_author(a, filter, &Page::first(10)).await.unwrap() }
    };
    assert_eq!(ids(&list(Some(a)).await), [dm.id, public.id]);
    assert_eq!(ids(&list(Some(b)).await), [dm.id, public.id]);
    assert_eq!(ids(&list(Some(c)).await), [public.id]);
    assert_eq!(ids(&list(None).await), [public.id]);
    assert_eq!(ids(&owner.public(&Page::first(10)).await.unwrap()), [public.id]);
    // Timelines learn whom it is for.
    let refs = owner.recent_by_authors(&[a], None, 10).await.unwrap();
    assert_eq!(refs[0].direct_to, Some(vec![b]));
    assert_eq!(refs[1].direct_to, None);
    // Never boosted.
    assert!(matches!(owner.reblog(a, dm.id, Visibility::Public).await, Err(PostsError::Validation(_))));
    assert!(matches!(owner.reblog(b, public.id, Visibility::Direct).await, Err(PostsError::Validation(_))));

    // Conversations: unread for the addressee, read for the author.
    let convs = |who: Id| {
        let owner = owner.clone();
        async move { owner.conversations(who, &Page::first(10)).await.unwrap() }
    };
    let of_b = convs(b).await;
    assert_eq!(of_b.len(), 1);
    assert_eq!((of_b[0].conversation_id, of_b[0].last_post_id, of_b[0].unread), (dm.id, dm.id, true));
    assert!(!convs(a).await[0].unread);
    assert!(convs(c).await.is_empty());
    assert!(!owner.conversation_seen(b, dm.id, false).await.unwrap().unread);
    assert!(!convs(b).await[0].unread);
    let mut reply = post(b, "@a ok", Visibility::Direct, &[(a, "a")]);
    reply.in_reply_to_id = Some(dm.id);
    let reply = owner.create(reply).await.unwrap();
    let of_a = convs(a).await;
    assert_eq!((of_a[0].conversation_id, of_a[0].last_post_id, of_a[0].unread), (dm.id, reply.id, true));
    // Removed until a newer post; the other side keeps it.
    owner.conversation_seen(a, dm.id, true).await.unwrap();
    assert!(convs(a).await.is_empty());
    assert_eq!(convs(b).await.len(), 1);
    let mut again = post(b, "@a hello?", Visibility::Direct, &[(a, "a")]);
    again.in_reply_to_id = Some(reply.id);
    let again = owner.create(again).await.unwrap();
    assert_eq!(convs(a).await[0].last_post_id, again.id);
    // Another's, or none: not found.
    assert!(matches!(owner.conversation_seen(c, dm.id, false).await, Err(PostsError::NotFound)));
    assert!(matches!(owner.conversation_seen(a, public.id, true).await, Err(PostsError::NotFound)));
}

#[tokio::test]
async fn what_a_text_names_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    what_a_text_names_is_kept_and_queried(DbConfig::Sqlite { dir: dir.path().into() }).await;
}

#[tokio::test]
async fn what_a_text_names_on_postgres() {
    let pg = testdb::TestDatabase::create().await;
    what_a_text_names_is_kept_and_queried(pg.config()).await;
}

#[tokio::test]
async fn direct_posts_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    direct_posts_are_for_their_addressees(DbConfig::Sqlite { dir: dir.path().into() }).await;
}

#[tokio::test]
async fn direct_posts_on_postgres() {
    let pg = testdb::TestDatabase::create().await;
    direct_posts_are_for_their_addressees(pg.config()).await;
}
