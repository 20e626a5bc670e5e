//! `POST /api/v1/apps`, `GET /api/v1/apps/verify_credentials`.

use super::Routes;
use crate::Gateway;
use crate::auth::Auth;
use crate::errors::OrApi;
use crate::params::{Params, has_control_or_space, is_web_url};
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
        website: app.website.clone().filter(|w| is_web_url(w)),
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

/// Mastodon's bounds on what an app registers: its name is shown on every
/// post it makes, its website linked from them.
const NAME_LIMIT: usize = 60;
const WEBSITE_LIMIT: usize = 2000;
/// All redirect URIs together.
const REDIRECT_URIS_LIMIT: usize = 2000;
const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";

/// Schemes a browser would run or read locally rather than hand to an app.
const DANGEROUS_SCHEMES: &[&str] = &["javascript", "data", "vbscript", "file", "blob", "about"];

/// A redirect URI an app may register: an absolute `http(s)` URL, a
/// custom scheme of a native app (`elk://callback`,
/// `com.example.app:/oauth`), or the out-of-band URN; never a fragment
/// (RFC 6749 §3.1.2), never a scheme the browser would run itself.
fn check_redirect_uri(uri: &str) -> Result<(), String> {
    if uri == OOB {
        return Ok(());
    }
    let invalid = || format!("Redirect URI {uri:?} must be an absolute http(s) URL, an app's own scheme, or {OOB}");
    if has_control_or_space(uri) || uri.contains('#') {
        return Err(invalid());
    }
    let (scheme, rest) = uri.split_once(':').ok_or_else(invalid)?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok || rest.is_empty() || DANGEROUS_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(invalid());
    }
    if matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") && !is_web_url(uri) {
        return Err(invalid());
    }
    Ok(())
}

impl NewAppForm {
    fn parse(params: &Params) -> Result<Self, ApiError> {
        let name = params.required("client_name")?.trim().to_string();
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(ApiError::validation("Name can't be blank"));
        }
        if name.chars().count() > NAME_LIMIT {
            return Err(ApiError::validation(format!("Name is too long (maximum is {NAME_LIMIT} characters)")));
        }
        // `redirect_uris` is a string (several separated by newlines) or an array.
        let raw = params.all("redirect_uris");
        if raw.iter().map(|v| v.len()).sum::<usize>() > REDIRECT_URIS_LIMIT {
            return Err(ApiError::validation(format!(
                "Redirect URI is too long (maximum is {REDIRECT_URIS_LIMIT} characters)"
            )));
        }
        let redirect_uris: Vec<String> = raw
            .into_iter()
            .flat_map(|v| v.split('\n').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>())
            .collect();
        if redirect_uris.is_empty() {
            return Err(ApiError::validation("Redirect URI can't be blank"));
        }
        for uri in &redirect_uris {
            check_redirect_uri(uri).map_err(ApiError::validation)?;
        }
        let scopes = Scopes::parse(params.get("scopes").unwrap_or("read")).map_err(ApiError::validation)?;
        let website = match params.text("website").map(str::trim).filter(|w| !w.is_empty()) {
            None => None,
            Some(w) if w.len() > WEBSITE_LIMIT => {
                return Err(ApiError::validation(format!(
                    "Website is too long (maximum is {WEBSITE_LIMIT} characters)"
                )));
            }
            Some(w) if !is_web_url(w) => {
                return Err(ApiError::validation("Website is not a valid http(s) URL"));
            }
            Some(w) => Some(w.to_string()),
        };
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

#[cfg(test)]
mod tests {
    use super::check_redirect_uri;

    #[test]
    fn redirect_uris_are_web_urls_app_schemes_or_oob() {
        for ok in [
            "urn:ietf:wg:oauth:2.0:oob",
            "https://elk.zone/oauth/callback",
            "http://127.0.0.1:8081/cb?x=1",
            "elk://callback",
            "com.example.app:/oauth",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "javascript://x%0aalert(1)",
            "JavaScript:alert(1)",
            "data:text/html,hi",
            "https://",
            "https:///path",
            "https://app.example/cb#frag",
            "https://app.example/cb\r\nLocation: evil",
            "https://app.example/c b",
            "relative/path",
            "://nohost",
            "1abc://x",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad:?}");
        }
    }
}
