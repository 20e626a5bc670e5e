//! `/api/v1/markers`: where an account stopped reading its home timeline
//! and its notifications, shared by its clients.

use super::Routes;
use crate::Gateway;
use crate::auth::Auth;
use crate::errors::OrApi;
use crate::params::Params;
use ::notifications::{MarkerRecord, MarkerTimeline, NotificationsError};
use axum::Json;
use axum::extract::State;
use axum::routing::get;
use http::StatusCode;
use model::Id;
use model::time_fmt::rfc3339_millis;
use platform::ApiError;
use serde_json::{Map, Value, json};

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default().route("/api/v1/markers", get(show).post(save))
}

/// The Marker entity: an object keyed by timeline.
fn entity(markers: &[MarkerRecord]) -> Value {
    let mut out = Map::new();
    for m in markers {
        out.insert(
            m.timeline.as_str().to_string(),
            json!({
                "last_read_id": m.last_read_id.to_string(),
                "version": m.version,
                "updated_at": rfc3339_millis(m.updated_at_ms),
            }),
        );
    }
    Value::Object(out)
}

/// `GET /api/v1/markers?timeline[]=home&timeline[]=notifications`: the
/// markers asked for that exist; none asked for, an empty object. Unknown
/// timeline names are ignored, as Mastodon ignores them.
pub async fn show(State(gw): State<Gateway>, auth: Auth, params: Params) -> Result<Json<Value>, ApiError> {
    let me = auth.user("read:statuses")?;
    let timelines: Vec<MarkerTimeline> = params.all("timeline").into_iter().filter_map(MarkerTimeline::parse).collect();
    if timelines.is_empty() {
        return Ok(Json(json!({})));
    }
    Ok(Json(entity(&gw.notifications.markers(me, &timelines).await.or_api()?)))
}

/// `POST /api/v1/markers` with `home[last_read_id]` and/or
/// `notifications[last_read_id]`: the markers written. A write that raced
/// another on the same marker is 409, as in Mastodon.
pub async fn save(State(gw): State<Gateway>, auth: Auth, params: Params) -> Result<Json<Value>, ApiError> {
    let me = auth.user("write:statuses")?;
    let mut positions = Vec::new();
    for timeline in MarkerTimeline::ALL {
        let key = format!("{}[last_read_id]", timeline.as_str());
        if let Some(raw) = params.text(&key) {
            let id: Id = raw.parse().map_err(|_| ApiError::validation(format!("{key} must be an id")))?;
            positions.push((timeline, id));
        }
    }
    if positions.is_empty() {
        return Ok(Json(json!({})));
    }
    match gw.notifications.set_markers(me, &positions).await {
        Err(NotificationsError::Conflict) => {
            Err(ApiError::new(StatusCode::CONFLICT, "Conflict during update, please try again"))
        }
        other => Ok(Json(entity(&other.or_api()?))),
    }
}
