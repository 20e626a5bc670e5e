//! `POST /api/v1/apps`, `GET /api/v1/apps/verify_credentials`.

use super::Routes;
use crate::Gateway;
use crate::auth::Auth;
use crate::errors::OrApi;
use crate::params::Params;
use axum::Json;
use axum::extract::State;
use axum::routing::{get, post};
use model::Scopes;
use model::entity::Application;
use platform::ApiError;
use users::{AppRecord, NewApp};

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default()
        .route("/api/v1/apps", post(create))
        .route("/api/v1/apps/verify_credentials", get(verify_credentials))
}

pub fn entity(app: &AppRecord, secret: Option<String>) -> Application {
    Application {
        id: app.id,
        name: app.name.clone(),
        website: app.website.clone(),
        scopes: app.scopes.iter().map(String::from).collect(),
        redirect_uri: app.redirect_uris.join("\n"),
        redirect_uris: app.redirect_uris.clone(),
        vapid_key: String::new(),
        client_id: secret.as_ref().map(|_| app.client_id.clone()),
        client_secret_expires_at: secret.as_ref().map(|_| 0),
        client_secret: secret,
    }
}

/// `POST /api/v1/apps`'s parameters as the app to register.
struct NewAppForm(NewApp);

impl NewAppForm {
    fn parse(params: &Params) -> Result<Self, ApiError> {
        let name = params.required("client_name")?.to_string();
        // `redirect_uris` is a string (several separated by newlines) or an array.
        let redirect_uris: Vec<String> = params
            .all("redirect_uris")
            .into_iter()
            .flat_map(|v| {
                v.split(['\n', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>()
            })
            .collect();
        let scopes = Scopes::parse(params.get("scopes").unwrap_or("read")).map_err(ApiError::validation)?;
        let website = params.text("website").map(String::from);
        Ok(NewAppForm(NewApp { name, website, redirect_uris, scopes }))
    }
}

pub async fn create(State(gw): State<Gateway>, params: Params) -> Result<Json<Application>, ApiError> {
    let form = NewAppForm::parse(&params)?;
    let (app, secret) = gw.users.create_app(form.0).await.or_api()?;
    Ok(Json(entity(&app, Some(secret))))
}

pub async fn verify_credentials(auth: Auth) -> Result<Json<Application>, ApiError> {
    Ok(Json(entity(&auth.0.app, None)))
}
