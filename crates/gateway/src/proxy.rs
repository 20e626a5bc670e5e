//! The gateway's policy for pass-through routes (`[[proxy]]`), plugged
//! into the data plane (the `proxy` crate) through its [`Hooks`]: the
//! concurrency limit shared with the API routes, the token check and rate
//! limits of the API edge (`edge::admit`), the route's time budget from
//! `http.route_timeouts_ms`, and the rate-limit headers on the answer.

use crate::Gateway;
use crate::edge::{self, Admitted, Asking};
use axum::response::Response;
use proxy::front::Answer;
use proxy::{Asked, Hooks, ProxyRoute};
use std::net::IpAddr;
use std::time::Duration;

pub use proxy::ProxyRouteConfig;

/// What an admitted pass-through request holds while it is forwarded.
pub struct Admission {
    _permit: tokio::sync::OwnedSemaphorePermit,
    shown: Option<crate::limits::Verdict>,
}

impl Hooks for Gateway {
    type Admission = Admission;

    async fn admit<'a, R: Asked>(
        &'a self,
        req: &'a R,
        peer: Option<IpAddr>,
        route: &'a ProxyRoute,
    ) -> Result<Admission, Response> {
        let permit = self.in_flight.clone().try_acquire_owned().map_err(|_| edge::shed())?;
        let asking = match req.parts() {
            Some(parts) => Asking::of(parts),
            None => Asking {
                method: req.method(),
                query: req.query(),
                authorization: req.header("authorization"),
                forwarded_for: req
                    .headers()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(b"x-forwarded-for"))
                    .map(|(_, v)| v)
                    .collect(),
            },
        };
        let Admitted { shown, .. } = edge::admit(self, &asking, peer, &route.pattern).await?;
        Ok(Admission { _permit: permit, shown })
    }

    fn budget(&self, route: &ProxyRoute) -> Duration {
        // An exempt route (a stream) still gets a bound: a day.
        self.settings.http.route_timeout(&route.pattern).unwrap_or(Duration::from_secs(86_400))
    }

    fn trusts(&self, peer: IpAddr) -> bool {
        self.settings.http.trusted_proxies.contains(&peer)
    }

    fn answer_filter(&self, answer: &mut Answer, admission: Admission) {
        if let Some(v) = admission.shown {
            edge::rate_headers(answer, &v);
        }
    }
}
