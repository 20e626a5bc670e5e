//! `notifications` as a unit of wiring (see the `component` crate).

use crate::{NotificationsApi, NotificationsHandler, NotificationsService};
use anyhow::Context as _;
use component::{Component, Needs, SharedUse, Wiring};
use posts::PostsApi;
use std::any::Any;
use std::sync::Arc;
use users::UsersApi;

pub struct NotificationsComponent;

/// The descriptor the binary's registry lists.
pub static COMPONENT: NotificationsComponent = NotificationsComponent;

#[async_trait::async_trait]
impl Component for NotificationsComponent {
    fn name(&self) -> &'static str {
        NotificationsService::COMPONENT
    }

    fn uses(&self) -> &'static [&'static str] {
        &["users", "posts"]
    }

    fn needs(&self) -> Needs {
        Needs { database: true, bus: true, redis: false, shared: SharedUse::No }
    }

    fn migrations(&self) -> Option<&'static store::Migrations> {
        Some(&crate::MIGRATIONS)
    }

    fn subscriptions(&self) -> Vec<bus::Subscription> {
        vec![NotificationsHandler::subscription()]
    }

    async fn start(&self, w: &mut Wiring, _settings: &(dyn Any + Send + Sync)) -> anyhow::Result<()> {
        let svc = NotificationsService::open(
            &w.engines.db,
            w.engines.ids.clone(),
            w.api::<dyn UsersApi>()?,
            w.api::<dyn PostsApi>()?,
        )
        .await
        .context("starting notifications")?;
        w.check_database("notifications database", svc.db());
        w.engines
            .bus
            .subscribe(NotificationsHandler::subscription(), Arc::new(NotificationsHandler::new(svc.clone())))
            .await
            .context("subscribing notifications to the bus")?;
        let api: Arc<dyn NotificationsApi> = Arc::new(svc);
        w.publish(api.clone(), api);
        Ok(())
    }

    fn connect(&self, w: &mut Wiring, client: rpc::RpcClient) {
        let remote: Arc<dyn NotificationsApi> = rpc::Api::remote(client);
        w.publish_remote(remote);
    }
}
