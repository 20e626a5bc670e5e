//! Accounts and timeline filters served from the record cache
//! ([`cache::records`]): [`CachedUsers`] wraps any [`UsersApi`] (the local
//! service or the remote client) for readers; [`UsersService`] stores an
//! account again whenever it commits a change to it (profile, follower and
//! following counts), and an account's filters whenever a block, mute,
//! follow or follow option changes them — every home read asks for them.

use crate::*;
use async_trait::async_trait;
use cache::{RecordCache, SharedState};
use model::Id;
use std::time::Duration;

/// The records of `users` that readers cache.
#[derive(Clone)]
pub struct UsersRecords {
    pub(crate) accounts: RecordCache<AccountRecord>,
    pub(crate) filters: RecordCache<AccountFilters>,
}

/// An account's [`TimelineFilters`], as the record cache keeps them.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct AccountFilters {
    pub(crate) account: Id,
    pub(crate) filters: TimelineFilters,
}

impl UsersRecords {
    /// Counts the lookups of readers using these records.
    pub fn with_metrics(self, metrics: cache::RecordMetrics) -> Self {
        UsersRecords {
            accounts: self.accounts.with_metrics(metrics.clone()),
            filters: self.filters.with_metrics(metrics),
        }
    }
}

pub fn account_records(shared: Arc<dyn SharedState>, ttl: Duration) -> UsersRecords {
    UsersRecords {
        accounts: RecordCache::new(shared.clone(), "account", ttl, |a: &AccountRecord| a.id),
        filters: RecordCache::new(shared, "timeline_filters", ttl, |f: &AccountFilters| f.account),
    }
}

/// [`UsersApi`] reading accounts by id and timeline filters through the
/// cache; every other call goes to `inner` unchanged ([`ForwardUsers`]).
pub struct CachedUsers {
    inner: Arc<dyn UsersApi>,
    records: UsersRecords,
}

impl CachedUsers {
    pub fn new(inner: Arc<dyn UsersApi>, records: UsersRecords) -> Self {
        CachedUsers { inner, records }
    }
}

#[async_trait]
impl ForwardUsers for CachedUsers {
    fn forward_to(&self) -> &dyn UsersApi {
        &*self.inner
    }
    async fn accounts(&self, ids: &[Id]) -> Result<Vec<AccountRecord>> {
        let inner = &self.inner;
        self.records.accounts.read_through(ids, |missing| async move { inner.accounts(&missing).await }).await
    }
    async fn timeline_filters(&self, account: Id) -> Result<TimelineFilters> {
        let inner = &self.inner;
        let found = self
            .records
            .filters
            .read_through(&[account], |missing| async move {
                let mut out = Vec::with_capacity(missing.len());
                for account in missing {
                    out.push(AccountFilters { account, filters: inner.timeline_filters(account).await? });
                }
                Ok::<_, UsersError>(out)
            })
            .await?;
        Ok(found.into_iter().next().map(|f| f.filters).unwrap_or_default())
    }
}
