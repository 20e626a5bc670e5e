//! Accounts served from the record cache ([`cache::records`]):
//! [`CachedUsers`] wraps any [`UsersApi`] (the local service or the remote
//! client) for readers; [`UsersService`] stores an account again whenever
//! it commits a change to it (profile, follower and following counts).

use crate::*;
use async_trait::async_trait;
use cache::{RecordCache, SharedState};
use model::Id;
use std::time::Duration;

pub fn account_records(shared: Arc<dyn SharedState>, ttl: Duration) -> RecordCache<AccountRecord> {
    RecordCache::new(shared, "account", ttl, |a: &AccountRecord| a.id)
}

/// [`UsersApi`] reading accounts by id through the cache; every other call
/// goes to `inner` unchanged ([`ForwardUsers`]).
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
impl ForwardUsers for CachedUsers {
    fn forward_to(&self) -> &dyn UsersApi {
        &*self.inner
    }
    async fn accounts(&self, ids: &[Id]) -> Result<Vec<AccountRecord>> {
        let inner = &self.inner;
        self.accounts.read_through(ids, |missing| async move { inner.accounts(&missing).await }).await
    }
}
