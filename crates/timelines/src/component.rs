//! `timelines` as a unit of wiring (see the `component` crate).

use crate::{TimelinesApi, TimelinesHandler, TimelinesService, TimelinesSettings};
use anyhow::Context as _;
use cache::{MemoryTimelineCache, RedisTimelineCache, TimelineCache};
use component::{Component, Needs, SharedUse, Wiring};
use posts::PostsApi;
use std::any::Any;
use std::sync::Arc;
use users::UsersApi;

pub struct TimelinesComponent;

/// The descriptor the binary's registry lists.
pub static COMPONENT: TimelinesComponent = TimelinesComponent;

#[async_trait::async_trait]
impl Component for TimelinesComponent {
    fn name(&self) -> &'static str {
        "timelines"
    }

    fn uses(&self) -> &'static [&'static str] {
        &["users", "posts"]
    }

    fn needs(&self) -> Needs {
        Needs { database: false, bus: true, redis: true, shared: SharedUse::Yes }
    }

    fn subscriptions(&self) -> Vec<bus::Subscription> {
        vec![TimelinesHandler::subscription()]
    }

    async fn start(&self, w: &mut Wiring, settings: &(dyn Any + Send + Sync)) -> anyhow::Result<()> {
        let s: TimelinesSettings = component::settings(self.name(), settings)?;
        let cache: Arc<dyn TimelineCache> = match &w.engines.redis {
            Some(conn) => Arc::new(RedisTimelineCache::with_idle_expiry(
                conn.clone(),
                &w.engines.key_prefix,
                s.cap,
                s.idle_expiry(),
            )),
            None => Arc::new(MemoryTimelineCache::with_idle_expiry(s.cap, s.idle_expiry())),
        };
        // Readiness follows Redis here: the timelines live there.
        w.check_redis();
        let svc = TimelinesService::new(cache, w.api::<dyn UsersApi>()?, w.api::<dyn PostsApi>()?, s.cap)
            .with_celebrities(w.engines.shared.clone(), s.celebrity_threshold);
        let handler = TimelinesHandler::new(svc.clone()).with_metrics(&mut w.registry);
        w.engines
            .bus
            .subscribe(self.subscriptions().remove(0), Arc::new(handler))
            .await
            .context("subscribing timelines to the bus")?;
        let api: Arc<dyn TimelinesApi> = Arc::new(svc);
        w.publish(api.clone(), api);
        Ok(())
    }

    fn connect(&self, w: &mut Wiring, client: rpc::RpcClient) {
        let remote: Arc<dyn TimelinesApi> = rpc::Api::remote(client);
        w.publish_remote(remote);
    }
}
