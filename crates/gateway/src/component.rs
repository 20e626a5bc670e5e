//! The gateway as a unit of wiring (see the `component` crate): it calls
//! every other component and serves the public port.

use crate::limits::{Clock, RateLimiter};
use crate::{Gateway, GatewayParts, GatewaySettings};
use ::proxy::{PassThrough, PassThroughFront, ProxyRoute};
use component::{Component, Needs, Public, SharedUse, Wiring};
use posts::PostsApi;
use std::any::Any;
use std::sync::Arc;
use timelines::TimelinesApi;
use users::UsersApi;

pub struct GatewayComponent;

/// The descriptor the binary's registry lists.
pub static COMPONENT: GatewayComponent = GatewayComponent;

#[async_trait::async_trait]
impl Component for GatewayComponent {
    fn name(&self) -> &'static str {
        "gateway"
    }

    fn uses(&self) -> &'static [&'static str] {
        &["users", "posts", "timelines", "notifications"]
    }

    fn needs(&self) -> Needs {
        // Rate limits and token checks are counted in the shared state.
        Needs { shared: SharedUse::Yes, ..Needs::NOTHING }
    }

    async fn start(&self, w: &mut Wiring, settings: &(dyn Any + Send + Sync)) -> anyhow::Result<()> {
        let s: GatewaySettings = component::settings(self.name(), settings)?;
        let taken = crate::routes::own_prefixes();
        let proxies = s
            .proxy
            .iter()
            .map(|p| ProxyRoute::new(p, &taken, s.http.body_limit_bytes).map(Arc::new))
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("proxy: {e}"))?;
        let tls = match (&s.http.tls_cert, &s.http.tls_key) {
            (Some(cert), Some(key)) => {
                Some(platform::tls::load(cert, key).map_err(|e| anyhow::anyhow!("http.tls_cert/tls_key: {e}"))?)
            }
            _ => None,
        };
        let gateway = Gateway::new(GatewayParts {
            users: w.api::<dyn UsersApi>()?,
            posts: w.api::<dyn PostsApi>()?,
            timelines: w.api::<dyn TimelinesApi>()?,
            notifications: w.api::<dyn notifications::NotificationsApi>()?,
            shared: w.engines.shared.clone(),
            limits: Arc::new(RateLimiter::new(s.rate_limits.clone(), w.engines.shared.clone(), Clock::System)),
            proxies,
            in_flight: Arc::new(tokio::sync::Semaphore::new(s.http.max_in_flight)),
            settings: Arc::new(s),
        });
        let router = gateway.clone().router();
        let wrap: Option<component::WrapPublic> = if gateway.proxies.is_empty() {
            None
        } else {
            let fast_path = platform::metrics::Counter::default();
            w.registry.register(
                "gateway_fast_path_requests",
                "Pass-through requests served on the plain-HTTP/1.1 fast path; the rest take the full stack",
                fast_path.clone(),
            );
            let (draining, http_metrics) = (w.draining.clone(), w.http_metrics.clone());
            Some(Box::new(move |router| {
                // Pass-through prefixes are served in front of the router
                // (see `proxy`).
                let (routes, body_limit) = (gateway.proxies.clone(), gateway.settings.http.body_limit_bytes);
                let front =
                    Arc::new(PassThroughFront::new(gateway, routes, body_limit, draining, http_metrics, fast_path));
                let fast: Arc<dyn platform::listen::FastPath> = proxy::front::Workers::new(front.clone());
                (tower::util::BoxCloneSyncService::new(PassThrough::new(router, front)), fast)
            }))
        };
        w.serve_public(Public { router, wrap, tls });
        Ok(())
    }
}
