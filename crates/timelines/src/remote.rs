//! `timelines` across processes: [`internal_router`] serves
//! [`TimelinesApi`] under `/internal/timelines/<method>`, and
//! [`RemoteTimelines`] implements the trait through the client-side pool.

use crate::{Result, TimelinesApi, TimelinesError};
use async_trait::async_trait;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use cache::Entry;
use model::{Id, Page};
use platform::rpc::{CallError, RpcClient, WireError, reply};
use std::sync::Arc;

fn to_wire(e: TimelinesError) -> WireError {
    match e {
        TimelinesError::Unavailable(m) => WireError::new("unavailable", m),
        TimelinesError::Unexpected(err) => {
            tracing::error!(error = %format!("{err:#}"), "timelines call failed");
            WireError::new("unexpected", "internal error in timelines")
        }
    }
}

pub fn internal_router(api: Arc<dyn TimelinesApi>) -> Router {
    Router::new().route("/internal/timelines/{method}", axum::routing::post(dispatch)).with_state(api)
}

async fn dispatch(State(api): State<Arc<dyn TimelinesApi>>, Path(method): Path<String>, body: Bytes) -> Response {
    match method.as_str() {
        "home" => platform::rpc_call!(body, to_wire, (account: Id, page: Page) => api.home(account, &page)),
        other => reply::<()>(Err(WireError::new("bad_request", format!("timelines has no method {other:?}")))),
    }
}

#[derive(Clone)]
pub struct RemoteTimelines(pub RpcClient);

#[async_trait]
impl TimelinesApi for RemoteTimelines {
    async fn home(&self, account: Id, page: &Page) -> Result<Vec<Entry>> {
        self.0.read_keyed("home", &account.to_string(), &(account, page)).await.map_err(|e| match e {
            CallError::Unavailable(m) => TimelinesError::Unavailable(m),
            CallError::Remote(w) => TimelinesError::Unexpected(anyhow::anyhow!("timelines: {}", w.message)),
        })
    }
}
