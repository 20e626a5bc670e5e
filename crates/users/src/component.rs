//! `users` as a unit of wiring (see the `component` crate).

use crate::{CachedUsers, UsersApi, UsersService, UsersSettings, account_records};
use anyhow::Context as _;
use component::{Component, Needs, SharedUse, Wiring};
use std::any::Any;
use std::sync::Arc;

pub struct UsersComponent;

/// How often each instance ends the mutes whose time ran out: a mute lasts
/// up to this much longer than asked.
const MUTE_SWEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Ends expired mutes now and then for as long as the process runs. Every
/// instance sweeps; each ended mute is deleted (and announced) once.
fn spawn_mute_sweeper(svc: UsersService) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(MUTE_SWEEP);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match svc.expire_mutes().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(ended = n, "expired mutes ended"),
                Err(e) => tracing::warn!(error = %e, "cannot end expired mutes now; retrying at the next sweep"),
            }
        }
    });
}

/// The descriptor the binary's registry lists.
pub static COMPONENT: UsersComponent = UsersComponent;

impl UsersComponent {
    /// What readers in this process call: through the record cache where
    /// every writer of accounts reaches it.
    fn readers(w: &Wiring, api: Arc<dyn UsersApi>) -> Arc<dyn UsersApi> {
        if w.caches_records(UsersService::COMPONENT) {
            let records =
                account_records(w.engines.shared.clone(), w.engines.record_ttl).with_metrics(w.record_metrics.clone());
            Arc::new(CachedUsers::new(api, records))
        } else {
            api
        }
    }
}

#[async_trait::async_trait]
impl Component for UsersComponent {
    fn name(&self) -> &'static str {
        UsersService::COMPONENT
    }

    fn needs(&self) -> Needs {
        Needs { database: true, bus: true, redis: false, shared: SharedUse::ForRecords }
    }

    fn migrations(&self) -> Option<&'static store::Migrations> {
        Some(&crate::MIGRATIONS)
    }

    async fn start(&self, w: &mut Wiring, settings: &(dyn Any + Send + Sync)) -> anyhow::Result<()> {
        let s: UsersSettings = component::settings(self.name(), settings)?;
        let mut svc = UsersService::open(&w.engines.db, w.engines.ids.clone())
            .await
            .context("starting users")?
            .with_password_hashing(&s.password_hashing);
        if w.caches_records(UsersService::COMPONENT) {
            svc = svc.with_records(account_records(w.engines.shared.clone(), w.engines.record_ttl));
        }
        w.check_database("users database", svc.db());
        w.relay(UsersService::COMPONENT, svc.db(), svc.outbox());
        spawn_mute_sweeper(svc.clone());
        let served: Arc<dyn UsersApi> = Arc::new(svc);
        let readers = Self::readers(w, served.clone());
        w.publish(served, readers);
        Ok(())
    }

    fn connect(&self, w: &mut Wiring, client: rpc::RpcClient) {
        let remote: Arc<dyn UsersApi> = rpc::Api::remote(client);
        let readers = Self::readers(w, remote);
        w.publish_remote(readers);
    }
}
