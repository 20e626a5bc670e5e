//! OAuth 2 as Mastodon does it: the authorization-code flow with a login and
//! consent page, the client-credentials and password grants, revocation.
//! Token endpoint errors use the OAuth shape (`error` + `error_description`).

use super::Routes;
use crate::Gateway;
use crate::errors::OrApi;
use crate::logins::ClientIp;
use crate::paging::BaseUrl;
use crate::params::Params;
use crate::render::escape_html;
use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use model::Scopes;
use model::entity::Token;
use platform::ApiError;
use serde_json::json;
use std::net::IpAddr;
use users::{AppRecord, CodeGrant, Pkce, UsersError};

/// This module's routes.
pub(super) fn routes() -> Routes {
    Routes::default()
        .route("/oauth/authorize", get(authorize_page).post(authorize))
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        .route("/.well-known/oauth-authorization-server", get(server_metadata))
}

/// RFC 8414 authorization-server metadata: where the endpoints are and
/// what they accept, for clients that discover rather than assume.
async fn server_metadata(BaseUrl(base): BaseUrl) -> Json<serde_json::Value> {
    Json(json!({
        "issuer": format!("{base}/"),
        "service_documentation": "https://docs.joinmastodon.org/",
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "app_registration_endpoint": format!("{base}/api/v1/apps"),
        "scopes_supported": Scopes::all_known().collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": ["authorization_code", "password", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256", "plain"],
    }))
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
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    String::from_utf8(bytes).ok()
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

pub async fn token(
    State(gw): State<Gateway>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    params: Params,
) -> Response {
    let ip = ip.and_then(|Extension(ClientIp(ip))| ip);
    let mut answer = issue(&gw, ip, &headers, &params).await.into_response();
    // RFC 6749 §5.1: token answers are never cached.
    answer.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    answer
}

async fn issue(
    gw: &Gateway,
    ip: Option<IpAddr>,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Json<Token>, TokenFailure> {
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
            crate::logins::admit(gw, ip, login).await?;
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
            match gw
                .users
                .redeem_auth_code(app.id, code, redirect, params.text("code_verifier").map(String::from))
                .await
            {
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

/// An authorization request, checked: the app, where the answer goes, the
/// scopes asked for and the PKCE challenge, if any.
struct AuthorizationRequest {
    app: AppRecord,
    redirect: String,
    scopes: Scopes,
    pkce: Option<Pkce>,
}

/// Checks `client_id`, `redirect_uri`, `scope` and the PKCE challenge of an
/// authorization request.
async fn authorization_request(gw: &Gateway, params: &Params) -> Result<AuthorizationRequest, ApiError> {
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
    let pkce = Pkce::parse(params.text("code_challenge"), params.text("code_challenge_method"))
        .map_err(ApiError::bad_request)?;
    Ok(AuthorizationRequest { app, redirect, scopes, pkce })
}

/// The cookie half of the authorize form's CSRF token (double submit: a
/// page on another site can make a browser post the form, but can neither
/// read this cookie nor, with `SameSite=Strict`, have it sent).
const CSRF_COOKIE: &str = "aviary_authorize_csrf";

fn csrf_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == CSRF_COOKIE)
        .map(|(_, value)| value)
}

/// Whether the form's token matches the cookie's, compared without an
/// early exit.
fn csrf_matches(headers: &HeaderMap, params: &Params) -> bool {
    match (csrf_cookie(headers), params.text("authenticity_token")) {
        (Some(cookie), Some(form)) if cookie.len() == form.len() && cookie.len() >= 32 => {
            cookie.bytes().zip(form.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        }
        _ => false,
    }
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title><style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
label,input,button{{display:block;width:100%;margin:.4rem 0}}input{{padding:.5rem}}button{{padding:.6rem}}
.error{{color:#b00}}code{{word-break:break-all}}</style></head><body>{body}</body></html>"#
    ))
}

/// Where the form may send the browser: this server, and the redirect
/// URI's origin (browsers apply `form-action` to the redirect after the
/// post too). Only characters a source expression may hold get through.
fn form_action(redirect: &str) -> String {
    let target = if let Some((scheme, rest)) = redirect.split_once("://")
        && matches!(scheme, "http" | "https")
    {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        format!("{scheme}://{authority}")
    } else if redirect == OOB {
        String::new()
    } else {
        redirect.split_once(':').map(|(scheme, _)| format!("{scheme}:")).unwrap_or_default()
    };
    let safe = target.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.:/[]_".contains(&b));
    if safe && !target.is_empty() { format!("'self' {target}") } else { "'self'".into() }
}

/// The authorize page's answers: never framed (clickjacking a consent
/// button), never cached, no scripts, no referrer carrying the code.
fn guarded(mut answer: Response, redirect: &str, csrf: Option<String>) -> Response {
    let h = answer.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action {}; frame-ancestors 'none'; base-uri 'none'",
        form_action(redirect)
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if let Some(cookie) = csrf
        && let Ok(v) = HeaderValue::from_str(&cookie)
    {
        h.insert(header::SET_COOKIE, v);
    }
    answer
}

/// The CSRF cookie for `token`: `Secure` when the server is reached over
/// https (its public URL says so, or it terminates TLS itself).
fn csrf_cookie_for(gw: &Gateway, token: &str) -> String {
    let https = gw.settings.instance.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
        || gw.settings.http.tls_cert.is_some();
    let secure = if https { "; Secure" } else { "" };
    format!("{CSRF_COOKIE}={token}; Path=/oauth/authorize; HttpOnly; SameSite=Strict; Max-Age=3600{secure}")
}

fn login_form(req: &AuthorizationRequest, params: &Params, csrf: &str, error: Option<&str>) -> Html<String> {
    let hidden = |k: &str, v: &str| format!(r#"<input type="hidden" name="{k}" value="{}">"#, escape_html(v));
    let (challenge, method) = match &req.pkce {
        Some(p) => (p.challenge.as_str(), p.method.as_str()),
        None => ("", ""),
    };
    let fields = [
        hidden("authenticity_token", csrf),
        hidden("client_id", &req.app.client_id),
        hidden("redirect_uri", &req.redirect),
        hidden("scope", &req.scopes.to_string_joined()),
        hidden("state", params.get("state").unwrap_or("")),
        hidden("response_type", "code"),
        if challenge.is_empty() { String::new() } else { hidden("code_challenge", challenge) },
        if method.is_empty() { String::new() } else { hidden("code_challenge_method", method) },
    ]
    .concat();
    let body = format!(
        r#"<h1>Authorize {app}</h1><p><strong>{app}</strong> asks for: <code>{scopes}</code></p>{err}
<form method="post" action="/oauth/authorize">{fields}
<label for="login">E-mail or username</label><input id="login" name="login" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" name="decision" value="approve">Authorize</button>
<button type="submit" name="decision" value="deny">Deny</button></form>"#,
        app = escape_html(&req.app.name),
        scopes = escape_html(&req.scopes.to_string_joined()),
        err = error.map(|e| format!(r#"<p class="error">{}</p>"#, escape_html(e))).unwrap_or_default(),
    );
    page("Authorize", &body)
}

pub async fn authorize_page(State(gw): State<Gateway>, params: Params) -> Result<Response, ApiError> {
    let req = authorization_request(&gw, &params).await?;
    let csrf = csrf_token();
    let cookie = csrf_cookie_for(&gw, &csrf);
    Ok(guarded(login_form(&req, &params, &csrf, None).into_response(), &req.redirect, Some(cookie)))
}

/// A fresh random token (256 bits, URL-safe).
fn csrf_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn redirect_with(redirect: &str, pairs: &[(&str, &str)]) -> Response {
    let q = serde_urlencoded::to_string(pairs).expect("string pairs always encode");
    let sep = if redirect.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{redirect}{sep}{q}")).into_response()
}

pub async fn authorize(
    State(gw): State<Gateway>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let req = authorization_request(&gw, &params).await?;
    if !csrf_matches(&headers, &params) {
        return Err(ApiError::forbidden(
            "The authorization form expired or was not sent from this server; reload the authorization page and try again.",
        ));
    }
    let csrf = params.text("authenticity_token").unwrap_or_default();
    // Both decisions need the account's password: denying is a choice the
    // account's owner makes, not a redirect anyone may trigger.
    let login = params.text("login").unwrap_or("");
    crate::logins::admit(&gw, ip.and_then(|Extension(ClientIp(ip))| ip), login).await?;
    let account = gw.users.check_password(login, params.text("password").unwrap_or("")).await.or_api()?;
    let Some(account) = account else {
        let mut resp = login_form(&req, &params, csrf, Some("Invalid e-mail or password.")).into_response();
        *resp.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(guarded(resp, &req.redirect, None));
    };
    let state = params.get("state").unwrap_or("");
    if params.text("decision") == Some("deny") {
        if req.redirect == OOB {
            return Ok(guarded(page("Denied", "<h1>Authorization denied</h1>").into_response(), &req.redirect, None));
        }
        return Ok(redirect_with(&req.redirect, &[("error", "access_denied"), ("state", state)]));
    }
    let grant = CodeGrant {
        app_id: req.app.id,
        account_id: account,
        scopes: req.scopes.clone(),
        redirect_uri: req.redirect.clone(),
        pkce: req.pkce.clone(),
    };
    let code = gw.users.create_auth_code(grant).await.or_api()?;
    if req.redirect == OOB {
        let body = format!(
            "<h1>Authorization code</h1><p>Copy this code into the application:</p><p><code id=\"code\">{}</code></p>",
            escape_html(&code)
        );
        return Ok(guarded(page("Authorization code", &body).into_response(), &req.redirect, None));
    }
    let mut pairs = vec![("code", code.as_str())];
    if !state.is_empty() {
        pairs.push(("state", state));
    }
    Ok(redirect_with(&req.redirect, &pairs))
}

#[cfg(test)]
mod tests {
    #[test]
    fn basic_auth_decodes() {
        assert_eq!(super::decode_base64("YWxhZGRpbjpvcGVuc2VzYW1l").as_deref(), Some("aladdin:opensesame"));
    }
}
