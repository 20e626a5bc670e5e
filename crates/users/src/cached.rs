//! Accounts served from the record cache ([`cache::records`]):
//! [`CachedUsers`] wraps any [`UsersApi`] (the local service or the remote
//! client) for readers; [`UsersService`] stores an account again whenever
//! it commits a change to it (profile, follower and following counts).

use crate::*;
use async_trait::async_trait;
use cache::{RecordCache, SharedState};
use model::{Id, Page, Scopes};
use std::time::Duration;

pub fn account_records(shared: Arc<dyn SharedState>, ttl: Duration) -> RecordCache<AccountRecord> {
    RecordCache::new(shared, "account", ttl, |a: &AccountRecord| a.id)
}

/// [`UsersApi`] reading accounts by id through the cache; every other call
/// goes to `inner` unchanged.
pub struct CachedUsers {
    inner: Arc<dyn UsersApi>,
    accounts: RecordCache<AccountRecord>,
}

impl CachedUsers {
    pub fn new(inner: Arc<dyn UsersApi>, accounts: RecordCache<AccountRecord>) -> Self {
        CachedUsers { inner, accounts }
    }
}

#[async_trait]
impl UsersApi for CachedUsers {
    async fn create_app(&self, app: NewApp) -> Result<(AppRecord, String)> {
        self.inner.create_app(app).await
    }
    async fn authenticate_client(&self, client_id: &str, client_secret: &str) -> Result<AppRecord> {
        self.inner.authenticate_client(client_id, client_secret).await
    }
    async fn app_by_client_id(&self, client_id: &str) -> Result<AppRecord> {
        self.inner.app_by_client_id(client_id).await
    }
    async fn issue_token(&self, app_id: Id, account_id: Option<Id>, scopes: Scopes) -> Result<IssuedToken> {
        self.inner.issue_token(app_id, account_id, scopes).await
    }
    async fn authenticate(&self, token: &str) -> Result<Option<AuthInfo>> {
        self.inner.authenticate(token).await
    }
    async fn revoke_token(&self, app_id: Id, token: &str) -> Result<()> {
        self.inner.revoke_token(app_id, token).await
    }
    async fn create_auth_code(&self, app_id: Id, account_id: Id, scopes: Scopes, redirect_uri: &str) -> Result<String> {
        self.inner.create_auth_code(app_id, account_id, scopes, redirect_uri).await
    }
    async fn redeem_auth_code(&self, app_id: Id, code: &str, redirect_uri: &str) -> Result<(Id, Scopes)> {
        self.inner.redeem_auth_code(app_id, code, redirect_uri).await
    }
    async fn sign_up(&self, sign_up: SignUp) -> Result<AccountRecord> {
        self.inner.sign_up(sign_up).await
    }
    async fn check_password(&self, login: &str, password: &str) -> Result<Option<Id>> {
        self.inner.check_password(login, password).await
    }
    async fn accounts(&self, ids: &[Id]) -> Result<Vec<AccountRecord>> {
        let inner = &self.inner;
        self.accounts.read_through(ids, |missing| async move { inner.accounts(&missing).await }).await
    }
    async fn lookup(&self, username: &str) -> Result<Option<AccountRecord>> {
        self.inner.lookup(username).await
    }
    async fn update_profile(
        &self,
        id: Id,
        display_name: Option<String>,
        note: Option<String>,
    ) -> Result<AccountRecord> {
        self.inner.update_profile(id, display_name, note).await
    }
    async fn account_count(&self) -> Result<u64> {
        self.inner.account_count().await
    }
    async fn follow(&self, follower: Id, followee: Id) -> Result<RelationshipRecord> {
        self.inner.follow(follower, followee).await
    }
    async fn unfollow(&self, follower: Id, followee: Id) -> Result<RelationshipRecord> {
        self.inner.unfollow(follower, followee).await
    }
    async fn relationships(&self, viewer: Id, ids: &[Id]) -> Result<Vec<RelationshipRecord>> {
        self.inner.relationships(viewer, ids).await
    }
    async fn followers(&self, account: Id, page: &Page) -> Result<Vec<FollowEdge>> {
        self.inner.followers(account, page).await
    }
    async fn following(&self, account: Id, page: &Page) -> Result<Vec<FollowEdge>> {
        self.inner.following(account, page).await
    }
    async fn follower_ids(&self, account: Id) -> Result<Vec<Id>> {
        self.inner.follower_ids(account).await
    }
    async fn following_ids(&self, account: Id) -> Result<Vec<Id>> {
        self.inner.following_ids(account).await
    }
    async fn is_following(&self, follower: Id, followee: Id) -> Result<bool> {
        self.inner.is_following(follower, followee).await
    }
}
