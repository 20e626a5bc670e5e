//! OAuth 2 as Mastodon does it: the authorization-code flow with a login and
//! consent page, the client-credentials and password grants, revocation.
//! Token endpoint errors use the OAuth shape (`error` + `error_description`).

use super::Routes;
use crate::Gateway;
use crate::errors::OrApi;
use crate::params::Params;
use crate::render::escape_html;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use model::Scopes;
use model::entity::Token;
use platform::ApiError;
use serde_json::json;
use users::{AppRecord, UsersError};

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default()
        .route("/oauth/authorize", get(authorize_page).post(authorize))
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
}

const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";

/// An error from the token and revoke endpoints, in OAuth's shape
/// (RFC 6749 §5.2) rather than Mastodon's.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

fn oauth_error(status: StatusCode, error: &'static str, description: &str) -> OAuthError {
    OAuthError { status, error, description: description.to_string() }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.error, "error_description": self.description }))).into_response()
    }
}

/// Failures of the components behind the endpoint keep their usual answer.
pub enum TokenFailure {
    OAuth(OAuthError),
    Api(ApiError),
}

impl From<OAuthError> for TokenFailure {
    fn from(e: OAuthError) -> Self {
        TokenFailure::OAuth(e)
    }
}
impl From<ApiError> for TokenFailure {
    fn from(e: ApiError) -> Self {
        TokenFailure::Api(e)
    }
}
impl IntoResponse for TokenFailure {
    fn into_response(self) -> Response {
        match self {
            TokenFailure::OAuth(e) => e.into_response(),
            TokenFailure::Api(e) => e.into_response(),
        }
    }
}

/// Client credentials from the form or from HTTP Basic auth.
fn client_credentials(headers: &HeaderMap, params: &Params) -> Option<(String, String)> {
    if let (Some(id), Some(secret)) = (params.text("client_id"), params.text("client_secret")) {
        return Some((id.to_string(), secret.to_string()));
    }
    let basic = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = decode_base64(basic.trim())?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn decode_base64(s: &str) -> Option<String> {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = T.iter().position(|&t| t == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Requested scopes, defaulting to the app's, and never beyond them.
fn requested_scopes(params: &Params, app: &AppRecord) -> Result<Scopes, OAuthError> {
    let scopes = match params.text("scope") {
        None => app.scopes.clone(),
        Some(s) => Scopes::parse(s).map_err(|e| oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &e.0))?,
    };
    if !scopes.is_subset_of(&app.scopes) {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The requested scope is invalid, unknown, or malformed.",
        ));
    }
    Ok(scopes)
}

pub async fn token(State(gw): State<Gateway>, headers: HeaderMap, params: Params) -> Result<Json<Token>, TokenFailure> {
    let (gw, headers, params) = (&gw, &headers, &params);
    let invalid_client = || {
        oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
        )
    };
    let (client_id, secret) = client_credentials(headers, params).ok_or_else(invalid_client)?;
    let app = match gw.users.authenticate_client(&client_id, &secret).await {
        Ok(app) => app,
        Err(UsersError::InvalidClient) => return Err(invalid_client().into()),
        Err(e) => return Err(crate::errors::to_api(e).into()),
    };
    let (account, scopes) = match params.text("grant_type") {
        Some("client_credentials") => (None, requested_scopes(params, &app)?),
        Some("password") => {
            let scopes = requested_scopes(params, &app)?;
            let (Some(login), Some(password)) = (params.text("username"), params.text("password")) else {
                return Err(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "username and password are required",
                )
                .into());
            };
            match gw.users.check_password(login, password).await {
                Ok(Some(id)) => (Some(id), scopes),
                Ok(None) => {
                    return Err(oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
                    ).into());
                }
                Err(e) => return Err(crate::errors::to_api(e).into()),
            }
        }
        Some("authorization_code") => {
            let code = params.text("code").unwrap_or("");
            let redirect = params.text("redirect_uri").unwrap_or(OOB);
            match gw.users.redeem_auth_code(app.id, code, redirect).await {
                Ok((account, scopes)) => (Some(account), scopes),
                Err(UsersError::InvalidGrant(m)) => {
                    return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &m).into());
                }
                Err(e) => return Err(crate::errors::to_api(e).into()),
            }
        }
        Some(_) | None => {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )
            .into());
        }
    };
    let issued = gw.users.issue_token(app.id, account, scopes).await.or_api()?;
    Ok(Json(Token {
        access_token: issued.access_token,
        token_type: "Bearer",
        scope: issued.scopes.to_string_joined(),
        created_at: issued.created_at_ms / 1000,
    }))
}

pub async fn revoke(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    params: Params,
) -> Result<Json<serde_json::Value>, TokenFailure> {
    let Some((client_id, secret)) = client_credentials(&headers, &params) else {
        return Err(oauth_error(
            StatusCode::FORBIDDEN,
            "unauthorized_client",
            "You are not authorized to revoke this token",
        )
        .into());
    };
    let app = gw.users.authenticate_client(&client_id, &secret).await.map_err(|_| {
        TokenFailure::from(oauth_error(
            StatusCode::FORBIDDEN,
            "unauthorized_client",
            "You are not authorized to revoke this token",
        ))
    })?;
    let token = params.text("token").unwrap_or("");
    gw.users.revoke_token(app.id, token).await.or_api()?;
    // Every gateway shares the cache, so the revocation holds everywhere now.
    if let Err(e) = gw.shared.delete(&crate::auth::cache_key(token)).await {
        tracing::error!(error = %e, "revoked token may stay usable until its cache entry expires");
    }
    Ok(Json(json!({})))
}

/// Checks `client_id`, `redirect_uri` and `scope` of an authorization request.
async fn authorization_request(gw: &Gateway, params: &Params) -> Result<(AppRecord, String, Scopes), ApiError> {
    let app = gw
        .users
        .app_by_client_id(params.text("client_id").unwrap_or(""))
        .await
        .map_err(|_| ApiError::bad_request("Client authentication failed: unknown client_id"))?;
    let redirect = params.text("redirect_uri").unwrap_or(OOB).to_string();
    if !app.redirect_uris.contains(&redirect) {
        return Err(ApiError::bad_request("The redirect uri included is not valid."));
    }
    if params.text("response_type").is_some_and(|t| t != "code") {
        return Err(ApiError::bad_request("The authorization server does not support this response type."));
    }
    let scopes = requested_scopes(params, &app)
        .map_err(|_| ApiError::bad_request("The requested scope is invalid, unknown, or malformed."))?;
    Ok((app, redirect, scopes))
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title><style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
label,input,button{{display:block;width:100%;margin:.4rem 0}}input{{padding:.5rem}}button{{padding:.6rem}}
.error{{color:#b00}}code{{word-break:break-all}}</style></head><body>{body}</body></html>"#
    ))
}

fn login_form(app: &AppRecord, params: &Params, redirect: &str, scopes: &Scopes, error: Option<&str>) -> Html<String> {
    let hidden = |k: &str, v: &str| format!(r#"<input type="hidden" name="{k}" value="{}">"#, escape_html(v));
    let body = format!(
        r#"<h1>Authorize {app}</h1><p><strong>{app}</strong> asks for: <code>{scopes}</code></p>{err}
<form method="post" action="/oauth/authorize">{h1}{h2}{h3}{h4}{h5}
<label for="login">E-mail or username</label><input id="login" name="login" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" name="decision" value="approve">Authorize</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button></form>"#,
        app = escape_html(&app.name),
        scopes = escape_html(&scopes.to_string_joined()),
        err = error.map(|e| format!(r#"<p class="error">{}</p>"#, escape_html(e))).unwrap_or_default(),
        h1 = hidden("client_id", &app.client_id),
        h2 = hidden("redirect_uri", redirect),
        h3 = hidden("scope", &scopes.to_string_joined()),
        h4 = hidden("state", params.get("state").unwrap_or("")),
        h5 = hidden("response_type", "code"),
    );
    page("Authorize", &body)
}

pub async fn authorize_page(State(gw): State<Gateway>, params: Params) -> Result<Html<String>, ApiError> {
    let (app, redirect, scopes) = authorization_request(&gw, &params).await?;
    Ok(login_form(&app, &params, &redirect, &scopes, None))
}

fn redirect_with(redirect: &str, pairs: &[(&str, &str)]) -> Response {
    let q = serde_urlencoded::to_string(pairs).expect("string pairs always encode");
    let sep = if redirect.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{redirect}{sep}{q}")).into_response()
}

pub async fn authorize(State(gw): State<Gateway>, params: Params) -> Result<Response, ApiError> {
    let (app, redirect, scopes) = authorization_request(&gw, &params).await?;
    let state = params.get("state").unwrap_or("");
    if params.text("decision") == Some("deny") {
        if redirect == OOB {
            return Ok(page("Denied", "<h1>Authorization denied</h1>").into_response());
        }
        return Ok(redirect_with(&redirect, &[("error", "access_denied"), ("state", state)]));
    }
    let account = gw
        .users
        .check_password(params.text("login").unwrap_or(""), params.text("password").unwrap_or(""))
        .await
        .or_api()?;
    let Some(account) = account else {
        let mut resp =
            login_form(&app, &params, &redirect, &scopes, Some("Invalid e-mail or password.")).into_response();
        *resp.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(resp);
    };
    let code = gw.users.create_auth_code(app.id, account, scopes, &redirect).await.or_api()?;
    if redirect == OOB {
        let body = format!(
            "<h1>Authorization code</h1><p>Copy this code into the application:</p><p><code id=\"code\">{}</code></p>",
            escape_html(&code)
        );
        return Ok(page("Authorization code", &body).into_response());
    }
    let mut pairs = vec![("code", code.as_str())];
    if !state.is_empty() {
        pairs.push(("state", state));
    }
    Ok(redirect_with(&redirect, &pairs))
}

#[cfg(test)]
mod tests {
    #[test]
    fn basic_auth_decodes() {
        assert_eq!(super::decode_base64("YWxhZGRpbjpvcGVuc2VzYW1l").as_deref(), Some("aladdin:opensesame"));
    }
}
