//! Polls on both engines: stored with their post (and through the record
//! cache), one vote per account with its choices checked, counted exactly
//! under concurrent votes, the viewer's own votes among its marks, closed
//! by sweeps that announce each end once however many run, refusing votes
//! from their end on, reset by an edit that changes the options.

use cache::{MemorySharedState, SharedState};
use model::{Id, IdGenerator, PostText};
use posts::{CachedPosts, NewPoll, NewPost, PostEdit, PostsApi, PostsError, PostsRecords, PostsService};
use std::sync::Arc;
use std::time::Duration;
use store::DbConfig;

fn poll(options: &[&str], multiple: bool) -> NewPoll {
    NewPoll {
        options: options.iter().map(|o| o.to_string()).collect(),
        expires_in_secs: 3600,
        multiple,
        hide_totals: false,
    }
}

fn with_poll(author: Id, p: NewPoll) -> NewPost {
    let mut post = NewPost::public(author, PostText::parse("which?", 500).unwrap());
    post.poll = Some(p);
    post
}

async fn events(svc: &PostsService, kind: &str) -> usize {
    use sqlx::Row;
    let rows = sqlx::query("SELECT envelope FROM outbox ORDER BY seq").fetch_all(&svc.db().pool).await.unwrap();
    rows.iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.get::<String, _>(0)).unwrap())
        .filter(|e| e["type"] == kind)
        .count()
}

/// Moves the end of post `id`'s poll to the past, as time would.
async fn end_now(svc: &PostsService, id: Id) {
    let mut post = svc.get(id).await.unwrap().unwrap();
    let poll = post.poll.as_mut().unwrap();
    poll.expires_at_ms = 1;
    sqlx::query("UPDATE posts SET poll = $1 WHERE id = $2")
        .bind(serde_json::to_string(poll).unwrap())
        .bind(id.get())
        .execute(&svc.db().pool)
        .await
        .unwrap();
    sqlx::query("UPDATE polls_open SET expires_at = 1 WHERE post_id = $1")
        .bind(id.get())
        .execute(&svc.db().pool)
        .await
        .unwrap();
}

fn validation<T: std::fmt::Debug>(r: Result<T, PostsError>) -> String {
    match r {
        Err(PostsError::Validation(m)) => m,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

async fn polls_count_votes_once_and_close_once(config: DbConfig) {
    let shared: Arc<dyn SharedState> = Arc::new(MemorySharedState::new());
    let records = || PostsRecords::new(shared.clone(), Duration::from_secs(600));
    let svc = PostsService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap().with_records(records());
    let owner: Arc<dyn PostsApi> = Arc::new(svc.clone());
    let reader = CachedPosts::new(owner.clone(), records());
    let author = Id::from_i64(1);

    let single = owner.create(with_poll(author, poll(&["tea", "coffee"], false))).await.unwrap();
    let p = single.poll.clone().unwrap();
    assert_eq!(p.options.iter().map(|o| o.title.as_str()).collect::<Vec<_>>(), ["tea", "coffee"]);
    assert_eq!((p.votes_count, p.voters_count, p.closed), (0, 0, false));
    assert_eq!(reader.get(single.id).await.unwrap().unwrap().poll, Some(p), "cached before the votes");

    let voted = owner.vote(Id::from_i64(2), single.id, &[1]).await.unwrap().poll.unwrap();
    assert_eq!((voted.options[1].votes, voted.votes_count, voted.voters_count), (1, 1, 1));
    assert_eq!(reader.get(single.id).await.unwrap().unwrap().poll.unwrap().votes_count, 1, "readers see the vote");
    assert!(validation(owner.vote(Id::from_i64(2), single.id, &[0]).await).contains("already voted"));
    assert!(validation(owner.vote(Id::from_i64(3), single.id, &[0, 1]).await).contains("one choice"));
    assert!(validation(owner.vote(Id::from_i64(3), single.id, &[2]).await).contains("options"));
    assert!(validation(owner.vote(Id::from_i64(3), single.id, &[]).await).contains("options"));
    let plain = owner.create(NewPost::public(author, PostText::parse("no poll", 500).unwrap())).await.unwrap();
    assert!(matches!(owner.vote(Id::from_i64(3), plain.id, &[0]).await, Err(PostsError::NotFound)));
    // Refused by `posts` whatever the caller checked.
    let one = with_poll(author, poll(&["alone"], false));
    validation(owner.create(one).await);

    // Twelve at once count exactly.
    let multi = owner.create(with_poll(author, poll(&["a", "b", "c"], true))).await.unwrap();
    let votes = (10..22).map(|v| {
        let owner = owner.clone();
        async move { owner.vote(Id::from_i64(v), multi.id, &[0, 2, 2]).await }
    });
    for r in futures::future::join_all(votes).await {
        r.unwrap();
    }
    let counted = owner.get(multi.id).await.unwrap().unwrap().poll.unwrap();
    assert_eq!(counted.options.iter().map(|o| o.votes).collect::<Vec<_>>(), [12, 0, 12]);
    assert_eq!((counted.votes_count, counted.voters_count), (24, 12));
    let marks = reader.viewer_marks(Id::from_i64(10), &[multi.id, single.id]).await.unwrap();
    let mut mine = marks.votes.clone();
    mine.sort();
    assert_eq!(mine, [(multi.id, 0), (multi.id, 2)], "the viewer's own votes");

    // An edit keeping the options keeps the votes; new options reset them.
    let edit = |options: &[&str]| PostEdit {
        text: PostText::parse("which now?", 500).unwrap(),
        spoiler_text: String::new(),
        sensitive: false,
        language: None,
        mentions: vec![],
        poll: Some(poll(options, true)),
    };
    assert_eq!(reader.viewer_marks(Id::from_i64(10), &[multi.id]).await.unwrap().votes.len(), 2, "cached");
    let kept = owner.edit(multi.id, author, edit(&["a", "b", "c"])).await.unwrap().poll.unwrap();
    assert_eq!(kept.votes_count, 24);
    let reset = owner.edit(multi.id, author, edit(&["a", "b"])).await.unwrap().poll.unwrap();
    assert_eq!((reset.votes_count, reset.voters_count, reset.options.len()), (0, 0, 2));
    assert!(
        reader.viewer_marks(Id::from_i64(10), &[multi.id]).await.unwrap().votes.is_empty(),
        "old votes gone, also from the cached marks"
    );
    owner.vote(Id::from_i64(10), multi.id, &[1]).await.unwrap();

    // Ended: no more votes; four sweeps at once close it once.
    end_now(&svc, single.id).await;
    assert!(validation(owner.vote(Id::from_i64(4), single.id, &[0]).await).contains("ended"));
    let sweeps = (0..4).map(|_| svc.close_ended_polls());
    let closed: u64 = futures::future::join_all(sweeps).await.into_iter().map(Result::unwrap).sum();
    assert_eq!(closed, 1);
    assert_eq!(svc.close_ended_polls().await.unwrap(), 0);
    assert_eq!(events(&svc, "poll.ended").await, 1);
    assert!(reader.get(single.id).await.unwrap().unwrap().poll.unwrap().closed, "readers see it closed");

    // Removed by an edit without a poll, and gone with its post.
    let mut no_poll = edit(&[]);
    no_poll.poll = None;
    assert_eq!(owner.edit(multi.id, author, no_poll).await.unwrap().poll, None);
    owner.delete(single.id, author).await.unwrap();
    assert!(matches!(owner.vote(Id::from_i64(5), single.id, &[0]).await, Err(PostsError::NotFound)));
}

#[tokio::test]
async fn polls_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    polls_count_votes_once_and_close_once(DbConfig::Sqlite { dir: dir.path().into() }).await;
}

#[tokio::test]
async fn polls_on_postgres() {
    let pg = testdb::TestDatabase::create().await;
    polls_count_votes_once_and_close_once(pg.config()).await;
}
