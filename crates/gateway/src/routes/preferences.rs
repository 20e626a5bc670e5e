//! `GET /api/v1/preferences`: the caller's posting and reading defaults,
//! which clients use for their compose and reading settings.

use super::Routes;
use crate::Gateway;
use crate::auth::Auth;
use crate::errors::OrApi;
use axum::Json;
use axum::extract::State;
use axum::routing::get;
use platform::ApiError;
use serde_json::{Value, json};

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default().route("/api/v1/preferences", get(show))
}

pub async fn show(State(gw): State<Gateway>, auth: Auth) -> Result<Json<Value>, ApiError> {
    let me = auth.user("read:accounts")?;
    let p = gw.users.preferences(me).await.or_api()?;
    Ok(Json(json!({
        "posting:default:visibility": p.posting_visibility.as_str(),
        "posting:default:sensitive": p.posting_sensitive,
        "posting:default:language": p.posting_language,
        "reading:expand:media": p.expand_media,
        "reading:expand:spoilers": p.expand_spoilers,
    })))
}
