//! Aggregation under a failing part: the gateway composed in this process
//! from the real components, with `posts`' author counters (the part an
//! answer can do without) made slow or failing by a wrapper. Home and
//! public timelines still answer in time, with the counters left out and
//! `X-Aviary-Degraded` saying so; when an essential part fails, the
//! request fails with 503 instead of answering wrong.

use async_trait::async_trait;
use cache::{MemorySharedState, MemoryTimelineCache};
use gateway::limits::{Clock, RateLimitSettings, RateLimiter};
use gateway::{Gateway, GatewayParts, GatewaySettings, HttpSettings};
use model::{Id, IdGenerator};
use notifications::NotificationsService;
use posts::{AuthorStats, ForwardPosts, PostRecord, PostsApi, PostsError, PostsService, ViewerMarks};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};
use store::DbConfig;
use testkit::Api;
use timelines::TimelinesService;
use users::UsersService;

const HEALTHY: u8 = 0;
const SLOW_STATS: u8 = 1;
const FAILING_STATS: u8 = 2;
const FAILING_POSTS: u8 = 3;
const FAILING_VIEWER_STATE: u8 = 4;

/// `posts` with faults switched on and off by the test.
struct Faulty {
    inner: Arc<dyn PostsApi>,
    mode: Arc<AtomicU8>,
}

impl Faulty {
    fn broken(&self, what: u8) -> bool {
        self.mode.load(Ordering::SeqCst) == what
    }
}

fn down() -> PostsError {
    PostsError::Unavailable("injected fault".into())
}

/// Everything goes to the real service except what the test breaks.
#[async_trait]
impl ForwardPosts for Faulty {
    fn forward_to(&self) -> &dyn PostsApi {
        &*self.inner
    }
    async fn get_many(&self, ids: &[Id]) -> posts::Result<Vec<PostRecord>> {
        if self.broken(FAILING_POSTS) {
            return Err(down());
        }
        self.inner.get_many(ids).await
    }
    async fn viewer_marks(&self, viewer: Id, ids: &[Id]) -> posts::Result<ViewerMarks> {
        if self.broken(FAILING_VIEWER_STATE) {
            return Err(down());
        }
        self.inner.viewer_marks(viewer, ids).await
    }
    async fn author_stats(&self, authors: &[Id]) -> posts::Result<Vec<AuthorStats>> {
        if self.broken(SLOW_STATS) {
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        if self.broken(FAILING_STATS) {
            return Err(down());
        }
        self.inner.author_stats(authors).await
    }
}

#[tokio::test]
async fn a_failing_optional_part_degrades_the_answer_and_an_essential_one_fails_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = DbConfig::Sqlite { dir: dir.path().to_path_buf() };
    let ids = Arc::new(IdGenerator::new(1));
    let users: Arc<dyn users::UsersApi> = Arc::new(UsersService::open(&db, ids.clone()).await.unwrap());
    let mode = Arc::new(AtomicU8::new(HEALTHY));
    let real: Arc<dyn PostsApi> = Arc::new(PostsService::open(&db, ids).await.unwrap());
    let posts: Arc<dyn PostsApi> = Arc::new(Faulty { inner: real, mode: mode.clone() });
    let cache = Arc::new(MemoryTimelineCache::new(800));
    let timelines = Arc::new(TimelinesService::new(cache, users.clone(), posts.clone(), 800));
    let notifications = Arc::new(
        NotificationsService::open(&db, Arc::new(IdGenerator::new(2)), users.clone(), posts.clone()).await.unwrap(),
    );
    let shared = Arc::new(MemorySharedState::new());
    let gw = Gateway::new(GatewayParts {
        users,
        posts,
        timelines,
        notifications,
        shared: shared.clone(),
        settings: Arc::new(GatewaySettings {
            http: HttpSettings { optional_part_timeout_ms: 200, ..Default::default() },
            ..Default::default()
        }),
        limits: Arc::new(RateLimiter::new(RateLimitSettings::default(), shared, Clock::System)),
        proxies: vec![],
        in_flight: Arc::new(tokio::sync::Semaphore::new(1024)),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, gw.router()).await.unwrap() });

    let api = Api::new(&base);
    let (alice, bob) = (api.sign_up("alice").await, api.sign_up("bob").await);
    api.follow(&bob, &alice).await;
    for i in 0..5 {
        api.post(&alice, &format!("status {i}"), "public").await;
    }
    let home = |api: &Api| {
        let api = api.clone();
        let token = bob.token.clone();
        async move {
            let t = Instant::now();
            let r = api.get("/api/v1/timelines/home", Some(&token)).await;
            let degraded = r.headers().get("x-aviary-degraded").map(|v| v.to_str().unwrap().to_string());
            let status = r.status();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            (status, degraded, body, t.elapsed())
        }
    };

    let (status, degraded, body, _) = home(&api).await;
    assert_eq!((status.as_u16(), degraded), (200, None));
    assert_eq!(body[0]["account"]["statuses_count"], 5);

    for (mode_now, name) in [(SLOW_STATS, "slow"), (FAILING_STATS, "failing")] {
        mode.store(mode_now, Ordering::SeqCst);
        let (status, degraded, body, took) = home(&api).await;
        assert_eq!(status.as_u16(), 200, "{name} counters failed the page");
        assert_eq!(degraded.as_deref(), Some("author-stats"), "{name}");
        assert_eq!(body.as_array().unwrap().len(), 5, "{name}: statuses missing");
        assert_eq!(body[0]["account"]["username"], "alice");
        assert_eq!(body[0]["account"]["statuses_count"], 0);
        assert!(took < Duration::from_secs(2), "{name}: waited {took:?} for an optional part");
        let public = api.get("/api/v1/timelines/public", None).await;
        assert_eq!(public.status(), 200);
        assert_eq!(public.headers()["x-aviary-degraded"], "author-stats");
    }

    // What the viewer did is optional too: the page comes without it.
    mode.store(FAILING_VIEWER_STATE, Ordering::SeqCst);
    let (status, degraded, body, _) = home(&api).await;
    assert_eq!((status.as_u16(), degraded.as_deref()), (200, Some("viewer-state")));
    assert_eq!(body.as_array().unwrap().len(), 5);
    assert_eq!(body[0]["favourited"], false);

    mode.store(FAILING_POSTS, Ordering::SeqCst);
    let (status, degraded, body, _) = home(&api).await;
    assert_eq!(status.as_u16(), 503, "{body}");
    assert_eq!(degraded, None);
    assert!(body["error"].is_string());

    mode.store(HEALTHY, Ordering::SeqCst);
    let (status, degraded, _, _) = home(&api).await;
    assert_eq!((status.as_u16(), degraded), (200, None));
}
