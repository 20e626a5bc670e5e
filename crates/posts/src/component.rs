//! `posts` as a unit of wiring (see the `component` crate).

use crate::{CachedPosts, PostsApi, PostsRecords, PostsService};
use anyhow::Context as _;
use component::{Component, Needs, SharedUse, Wiring};
use std::any::Any;
use std::sync::Arc;

pub struct PostsComponent;

/// How often each instance closes the polls whose end has come. A poll
/// refuses votes from its end on regardless; the sweep sends `poll.ended`
/// and marks it closed up to this much later.
const POLL_SWEEP: std::time::Duration = std::time::Duration::from_secs(2);

/// Closes ended polls now and then for as long as the process runs. Every
/// instance sweeps; each poll is closed (and announced) once.
fn spawn_poll_sweeper(svc: PostsService) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL_SWEEP);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match svc.close_ended_polls().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(closed = n, "ended polls closed"),
                Err(e) => tracing::warn!(error = %e, "cannot close ended polls now; retrying at the next sweep"),
            }
        }
    });
}

/// The descriptor the binary's registry lists.
pub static COMPONENT: PostsComponent = PostsComponent;

impl PostsComponent {
    /// What readers in this process call: through the record cache where
    /// every writer of posts and counters reaches it.
    fn readers(w: &Wiring, api: Arc<dyn PostsApi>) -> Arc<dyn PostsApi> {
        if w.caches_records(PostsService::COMPONENT) {
            let records = PostsRecords::new(w.engines.shared.clone(), w.engines.record_ttl)
                .with_metrics(w.record_metrics.clone());
            Arc::new(CachedPosts::new(api, records))
        } else {
            api
        }
    }
}

#[async_trait::async_trait]
impl Component for PostsComponent {
    fn name(&self) -> &'static str {
        PostsService::COMPONENT
    }

    fn needs(&self) -> Needs {
        Needs { database: true, bus: true, redis: false, shared: SharedUse::ForRecords }
    }

    fn migrations(&self) -> Option<&'static store::Migrations> {
        Some(&crate::MIGRATIONS)
    }

    async fn start(&self, w: &mut Wiring, _settings: &(dyn Any + Send + Sync)) -> anyhow::Result<()> {
        let mut svc = PostsService::open(&w.engines.db, w.engines.ids.clone()).await.context("starting posts")?;
        if w.caches_records(PostsService::COMPONENT) {
            svc = svc.with_records(PostsRecords::new(w.engines.shared.clone(), w.engines.record_ttl));
        }
        w.check_database("posts database", svc.db());
        w.relay(PostsService::COMPONENT, svc.db(), svc.outbox());
        spawn_poll_sweeper(svc.clone());
        let served: Arc<dyn PostsApi> = Arc::new(svc);
        let readers = Self::readers(w, served.clone());
        w.publish(served, readers);
        Ok(())
    }

    fn connect(&self, w: &mut Wiring, client: rpc::RpcClient) {
        let remote: Arc<dyn PostsApi> = rpc::Api::remote(client);
        let readers = Self::readers(w, remote);
        w.publish_remote(readers);
    }
}
