//! A small Mastodon API client for tests: just enough typed helpers to
//! arrange a scenario, plus raw request methods for asserting on status
//! codes and headers.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Api {
    bases: std::sync::Arc<Vec<String>>,
    next: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub http: reqwest::Client,
}

/// A signed-up account with a user token (scopes `read write follow`).
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub username: String,
    pub token: String,
}

/// A registered application and its client-credentials token.
#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    pub client_secret: String,
    pub token: String,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Self::over(vec![base.to_string()])
    }

    /// A client that sends each request to the next of `bases` in turn
    /// (several gateways in split mode).
    pub fn over(bases: Vec<String>) -> Self {
        let bases = bases.into_iter().map(|b| b.trim_end_matches('/').to_string()).collect();
        Api { bases: std::sync::Arc::new(bases), next: Default::default(), http: reqwest::Client::new() }
    }

    pub fn base(&self) -> &str {
        &self.bases[0]
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.bases.len();
            format!("{}{path}", self.bases[i])
        };
        let rb = self.http.request(method, url);
        match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token).send().await.expect("request sent")
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.request(Method::POST, path, token).json(&body).send().await.expect("request sent")
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::DELETE, path, token).send().await.expect("request sent")
    }

    /// Sends and asserts the status, returning the JSON body.
    pub async fn expect(&self, resp: Response, status: StatusCode) -> Value {
        let got = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(got, status, "unexpected status; body: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn register_app(&self, scopes: &str) -> App {
        let app = self
            .expect(
                self.post_json(
                    "/api/v1/apps",
                    None,
                    json!({"client_name": "testkit", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": scopes}),
                )
                .await,
                StatusCode::OK,
            )
            .await;
        let client_id = app["client_id"].as_str().unwrap().to_string();
        let client_secret = app["client_secret"].as_str().unwrap().to_string();
        let token = self
            .expect(
                self.post_json(
                    "/oauth/token",
                    None,
                    json!({"grant_type": "client_credentials", "client_id": client_id,
                           "client_secret": client_secret, "scope": scopes}),
                )
                .await,
                StatusCode::OK,
            )
            .await["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        App { client_id, client_secret, token }
    }

    /// Registers an app and signs up `username` with it.
    pub async fn sign_up(&self, username: &str) -> User {
        let app = self.register_app("read write follow").await;
        self.sign_up_with(&app, username).await
    }

    pub async fn sign_up_with(&self, app: &App, username: &str) -> User {
        let token = self
            .expect(
                self.post_json(
                    "/api/v1/accounts",
                    Some(&app.token),
                    json!({"username": username, "email": format!("{username}@example.org"),
                           "password": "correct horse battery", "agreement": true, "locale": "en"}),
                )
                .await,
                StatusCode::OK,
            )
            .await["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let me = self.expect(self.get("/api/v1/accounts/verify_credentials", Some(&token)).await, StatusCode::OK).await;
        User { id: me["id"].as_str().unwrap().to_string(), username: username.to_string(), token }
    }

    pub async fn follow(&self, who: &User, whom: &User) {
        self.set_follow(who, whom, true).await
    }

    pub async fn unfollow(&self, who: &User, whom: &User) {
        self.set_follow(who, whom, false).await
    }

    async fn set_follow(&self, who: &User, whom: &User, follow: bool) {
        let verb = if follow { "follow" } else { "unfollow" };
        let path = format!("/api/v1/accounts/{}/{verb}", whom.id);
        let r = self.expect(self.post_json(&path, Some(&who.token), json!({})).await, StatusCode::OK).await;
        assert_eq!(r["following"], follow);
    }

    /// Posts a status; returns its id.
    pub async fn post(&self, who: &User, text: &str, visibility: &str) -> String {
        let s = self
            .expect(
                self.post_json("/api/v1/statuses", Some(&who.token), json!({"status": text, "visibility": visibility}))
                    .await,
                StatusCode::OK,
            )
            .await;
        s["id"].as_str().unwrap().to_string()
    }

    /// Every status id of `who`'s home timeline, newest first, following
    /// the `Link: rel="next"` headers page by page.
    pub async fn home_ids(&self, who: &User) -> Vec<String> {
        self.all_pages("/api/v1/timelines/home?limit=40", Some(&who.token)).await
    }

    pub async fn all_pages(&self, first: &str, token: Option<&str>) -> Vec<String> {
        let mut ids = Vec::new();
        let mut next = Some(first.to_string());
        while let Some(url) = next.take() {
            let resp = self.get(&url, token).await;
            assert_eq!(resp.status(), StatusCode::OK, "paging {url}");
            next = resp
                .headers()
                .get("link")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.split(',').find(|p| p.contains("rel=\"next\"")).map(str::to_string))
                .and_then(|p| Some(p.split_once('<')?.1.split_once('>')?.0.to_string()));
            let page: Vec<Value> = resp.json().await.expect("a JSON page");
            if page.is_empty() {
                break;
            }
            ids.extend(page.iter().map(|s| s["id"].as_str().unwrap().to_string()));
        }
        ids
    }

    /// Waits (polling, bounded) until `who`'s home timeline satisfies `pred`;
    /// fan-out is asynchronous, so tests wait for it rather than sleep.
    pub async fn home_eventually(&self, who: &User, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
        self.home_within(who, std::time::Duration::from_secs(10), pred).await
    }

    pub async fn home_within(
        &self,
        who: &User,
        limit: std::time::Duration,
        pred: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let ids = self.home_ids(who).await;
            if pred(&ids) || std::time::Instant::now() > deadline {
                return ids;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
