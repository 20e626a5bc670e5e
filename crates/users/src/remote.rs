//! `users` across processes: [`internal_router`] serves [`UsersApi`] under
//! `/internal/users/<method>`, and [`RemoteUsers`] implements the same
//! trait by calling it through the client-side pool.

use crate::*;
use async_trait::async_trait;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use model::{Id, Page, Scopes};
use platform::rpc::{CallError, RpcClient, WireError, reply};
use std::sync::Arc;

fn to_wire(e: UsersError) -> WireError {
    let (kind, msg) = match &e {
        UsersError::Validation(m) => ("validation", m.clone()),
        UsersError::NotFound => ("not_found", e.to_string()),
        UsersError::Forbidden(m) => ("forbidden", m.clone()),
        UsersError::InvalidClient => ("invalid_client", e.to_string()),
        UsersError::InvalidGrant(m) => ("invalid_grant", m.clone()),
        UsersError::Conflict(what) => ("conflict", what.clone()),
        UsersError::Unavailable(m) => ("unavailable", m.clone()),
        UsersError::Unexpected(err) => {
            tracing::error!(error = %format!("{err:#}"), "users call failed");
            ("unexpected", "internal error in users".to_string())
        }
    };
    WireError::new(kind, msg)
}

fn from_call(e: CallError) -> UsersError {
    match e {
        CallError::Unavailable(m) => UsersError::Unavailable(m),
        CallError::Remote(w) => match w.kind.as_str() {
            "validation" => UsersError::Validation(w.message),
            "not_found" => UsersError::NotFound,
            "forbidden" => UsersError::Forbidden(w.message),
            "invalid_client" => UsersError::InvalidClient,
            "invalid_grant" => UsersError::InvalidGrant(w.message),
            "conflict" => UsersError::Conflict(w.message),
            _ => UsersError::Unexpected(anyhow::anyhow!("users: {}", w.message)),
        },
    }
}

/// Serves `api` to other components.
pub fn internal_router(api: Arc<dyn UsersApi>) -> Router {
    Router::new().route("/internal/users/{method}", axum::routing::post(dispatch)).with_state(api)
}

async fn dispatch(State(api): State<Arc<dyn UsersApi>>, Path(method): Path<String>, body: Bytes) -> Response {
    macro_rules! call {
        ($($arm:tt)*) => { platform::rpc_call!(body, to_wire, $($arm)*) };
    }
    match method.as_str() {
        "create_app" => call!((app: NewApp) => api.create_app(app)),
        "authenticate_client" => call!((id: String, secret: String) => api.authenticate_client(&id, &secret)),
        "app_by_client_id" => call!((id: String) => api.app_by_client_id(&id)),
        "issue_token" => call!((app: Id, account: Option<Id>, scopes: Scopes) => api.issue_token(app, account, scopes)),
        "authenticate" => call!((token: String) => api.authenticate(&token)),
        "revoke_token" => call!((app: Id, token: String) => api.revoke_token(app, &token)),
        "create_auth_code" => call!((app: Id, account: Id, scopes: Scopes, uri: String) =>
            api.create_auth_code(app, account, scopes, &uri)),
        "redeem_auth_code" => call!((app: Id, code: String, uri: String) => api.redeem_auth_code(app, &code, &uri)),
        "sign_up" => call!((s: SignUp) => api.sign_up(s)),
        "check_password" => call!((login: String, password: String) => api.check_password(&login, &password)),
        "accounts" => call!((ids: Vec<Id>) => api.accounts(&ids)),
        "lookup" => call!((username: String) => api.lookup(&username)),
        "update_profile" => {
            call!((id: Id, name: Option<String>, note: Option<String>) => api.update_profile(id, name, note))
        }
        "account_count" => call!(() => api.account_count()),
        "follow" => call!((a: Id, b: Id) => api.follow(a, b)),
        "unfollow" => call!((a: Id, b: Id) => api.unfollow(a, b)),
        "relationships" => call!((viewer: Id, ids: Vec<Id>) => api.relationships(viewer, &ids)),
        "followers" => call!((account: Id, page: Page) => api.followers(account, &page)),
        "following" => call!((account: Id, page: Page) => api.following(account, &page)),
        "follower_ids" => call!((account: Id) => api.follower_ids(account)),
        "following_ids" => call!((account: Id) => api.following_ids(account)),
        "is_following" => call!((a: Id, b: Id) => api.is_following(a, b)),
        other => reply::<()>(Err(WireError::new("bad_request", format!("users has no method {other:?}")))),
    }
}

/// [`UsersApi`] over the network.
#[derive(Clone)]
pub struct RemoteUsers(pub RpcClient);

impl RemoteUsers {
    /// A call that only reads: retried on another instance if one fails.
    async fn read<A: serde::Serialize, R: serde::de::DeserializeOwned>(&self, method: &str, a: A) -> Result<R> {
        self.0.read(method, &a).await.map_err(from_call)
    }

    /// A call that changes state: never repeated once it may have arrived.
    async fn write<A: serde::Serialize, R: serde::de::DeserializeOwned>(&self, method: &str, a: A) -> Result<R> {
        self.0.write(method, &a).await.map_err(from_call)
    }
}

#[async_trait]
impl UsersApi for RemoteUsers {
    async fn create_app(&self, app: NewApp) -> Result<(AppRecord, String)> {
        self.write("create_app", (app,)).await
    }
    async fn authenticate_client(&self, client_id: &str, client_secret: &str) -> Result<AppRecord> {
        self.read("authenticate_client", (client_id, client_secret)).await
    }
    async fn app_by_client_id(&self, client_id: &str) -> Result<AppRecord> {
        self.read("app_by_client_id", (client_id,)).await
    }
    async fn issue_token(&self, app_id: Id, account_id: Option<Id>, scopes: Scopes) -> Result<IssuedToken> {
        self.write("issue_token", (app_id, account_id, scopes)).await
    }
    async fn authenticate(&self, token: &str) -> Result<Option<AuthInfo>> {
        self.read("authenticate", (token,)).await
    }
    async fn revoke_token(&self, app_id: Id, token: &str) -> Result<()> {
        self.write("revoke_token", (app_id, token)).await
    }
    async fn create_auth_code(&self, app_id: Id, account_id: Id, scopes: Scopes, redirect_uri: &str) -> Result<String> {
        self.write("create_auth_code", (app_id, account_id, scopes, redirect_uri)).await
    }
    async fn redeem_auth_code(&self, app_id: Id, code: &str, redirect_uri: &str) -> Result<(Id, Scopes)> {
        self.write("redeem_auth_code", (app_id, code, redirect_uri)).await
    }
    async fn sign_up(&self, sign_up: SignUp) -> Result<AccountRecord> {
        self.write("sign_up", (sign_up,)).await
    }
    async fn check_password(&self, login: &str, password: &str) -> Result<Option<Id>> {
        self.read("check_password", (login, password)).await
    }
    async fn accounts(&self, ids: &[Id]) -> Result<Vec<AccountRecord>> {
        self.read("accounts", (ids,)).await
    }
    async fn lookup(&self, username: &str) -> Result<Option<AccountRecord>> {
        self.read("lookup", (username,)).await
    }
    async fn update_profile(
        &self,
        id: Id,
        display_name: Option<String>,
        note: Option<String>,
    ) -> Result<AccountRecord> {
        self.write("update_profile", (id, display_name, note)).await
    }
    async fn account_count(&self) -> Result<u64> {
        self.read("account_count", ()).await
    }
    async fn follow(&self, follower: Id, followee: Id) -> Result<RelationshipRecord> {
        self.write("follow", (follower, followee)).await
    }
    async fn unfollow(&self, follower: Id, followee: Id) -> Result<RelationshipRecord> {
        self.write("unfollow", (follower, followee)).await
    }
    async fn relationships(&self, viewer: Id, ids: &[Id]) -> Result<Vec<RelationshipRecord>> {
        self.read("relationships", (viewer, ids)).await
    }
    async fn followers(&self, account: Id, page: &Page) -> Result<Vec<FollowEdge>> {
        self.read("followers", (account, page)).await
    }
    async fn following(&self, account: Id, page: &Page) -> Result<Vec<FollowEdge>> {
        self.read("following", (account, page)).await
    }
    async fn follower_ids(&self, account: Id) -> Result<Vec<Id>> {
        self.read("follower_ids", (account,)).await
    }
    async fn following_ids(&self, account: Id) -> Result<Vec<Id>> {
        self.read("following_ids", (account,)).await
    }
    async fn is_following(&self, follower: Id, followee: Id) -> Result<bool> {
        self.read("is_following", (follower, followee)).await
    }
}
