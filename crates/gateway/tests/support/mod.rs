//! The gateway's routes at the handler level: the real components, wired
//! by their own descriptors as the binary wires them all-in-one — SQLite
//! in a temporary directory, the in-memory cache and shared state, the
//! in-process bus with the outbox relays running — and requests sent
//! straight into the public router (no sockets), so each route module's
//! tests run in milliseconds with no fakes to keep in step.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bus::InProcessBus;
use cache::MemorySharedState;
use component::{Component, Engines, Wiring};
use gateway::GatewaySettings;
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use model::IdGenerator;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

pub struct Harness {
    router: Router,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// An answer: status, headers and the body as JSON (`Null` when empty or
/// not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Value,
    /// The body as text (HTML pages).
    pub text: String,
}

impl Answer {
    /// The body, after checking the status.
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "answer: {}", self.body);
        self.body
    }

    /// A Mastodon error: the status and the `error` message.
    #[track_caller]
    pub fn error(self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "answer: {}", self.body);
        self.body["error"].as_str().unwrap_or_else(|| panic!("no error message in {}", self.body)).to_string()
    }
}

pub struct User {
    pub id: String,
    pub token: String,
}

impl Harness {
    pub async fn new() -> Harness {
        Self::with(|_| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut GatewaySettings)) -> Harness {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let engines = Engines {
            db: store::DbConfig::Sqlite { dir: dir.path().to_path_buf() },
            ids: Arc::new(IdGenerator::new(1)),
            bus: Arc::new(InProcessBus::new()),
            shared: Arc::new(MemorySharedState::new()),
            redis: None,
            key_prefix: "test:".into(),
            record_ttl: Duration::from_secs(600),
        };
        let names = ["users", "posts", "timelines", "notifications", "gateway"].into_iter().collect();
        let mut w = Wiring::new(engines, names);
        users::COMPONENT.start(&mut w, &users::UsersSettings::default()).await.expect("users starts");
        posts::COMPONENT.start(&mut w, &()).await.expect("posts starts");
        timelines::COMPONENT.start(&mut w, &timelines::TimelinesSettings::default()).await.expect("timelines starts");
        notifications::COMPONENT.start(&mut w, &()).await.expect("notifications starts");
        let mut settings = GatewaySettings::default();
        settings.rate_limits.enabled = false;
        tweak(&mut settings);
        gateway::COMPONENT.start(&mut w, &settings).await.expect("the gateway starts");
        let wired = w.finish();
        let stop = CancellationToken::new();
        for relay in wired.relays {
            tokio::spawn(relay.run(stop.clone()));
        }
        let router = wired.public.expect("the gateway serves the public port").router;
        Harness { router, stop, _dir: dir }
    }

    /// Sends one request; `body` goes as JSON.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let mut req = req.body(body).expect("a well-formed request");
        req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
        self.send(req).await
    }

    /// Sends a request as built by the test.
    pub async fn send(&self, req: Request<Body>) -> Answer {
        let resp = self.router.clone().oneshot(req).await.expect("the router answers");
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.expect("a readable body").to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// An app and its client-credentials token.
    pub async fn app(&self, scopes: &str) -> (Value, String) {
        let app = self
            .post(
                "/api/v1/apps",
                None,
                json!({"client_name": "handler tests", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": scopes}),
            )
            .await
            .expect(StatusCode::OK);
        let token = self
            .post(
                "/oauth/token",
                None,
                json!({"grant_type": "client_credentials", "client_id": app["client_id"],
                       "client_secret": app["client_secret"], "scope": scopes}),
            )
            .await
            .expect(StatusCode::OK)["access_token"]
            .as_str()
            .expect("a token")
            .to_string();
        (app, token)
    }

    /// A new account with a `read write follow` token.
    pub async fn user(&self, username: &str) -> User {
        self.user_with(username, "read write follow").await
    }

    /// A new account whose token has `scopes`.
    pub async fn user_with(&self, username: &str, scopes: &str) -> User {
        let (_, app_token) = self.app(scopes).await;
        let token = self
            .post(
                "/api/v1/accounts",
                Some(&app_token),
                json!({"username": username, "email": format!("{username}@example.org"),
                       "password": "correct horse battery", "agreement": true, "locale": "en"}),
            )
            .await
            .expect(StatusCode::OK)["access_token"]
            .as_str()
            .expect("a token")
            .to_string();
        let me = self.get("/api/v1/accounts/verify_credentials", Some(&token)).await;
        // A token without `read` cannot look itself up; its id is then unknown here.
        let id = if me.status == StatusCode::OK {
            me.body["id"].as_str().expect("an id").to_string()
        } else {
            String::new()
        };
        User { id, token }
    }

    /// Posts `text` as `who`; the status id.
    pub async fn status(&self, who: &User, text: &str, visibility: &str) -> String {
        let s = self
            .post("/api/v1/statuses", Some(&who.token), json!({"status": text, "visibility": visibility}))
            .await
            .expect(StatusCode::OK);
        s["id"].as_str().expect("an id").to_string()
    }
}
