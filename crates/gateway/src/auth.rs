//! Bearer-token authentication and scope checks.
//!
//! [`Auth`] requires a valid token. [`MaybeAuth`] admits anonymous requests
//! but still rejects a token that is present and invalid: a bad token is a
//! 401, never silently "logged out".

use crate::Gateway;
use crate::errors::OrApi;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use model::Id;
use platform::ApiError;
use users::AuthInfo;

/// The bearer token of a request, from the header or (as Doorkeeper allows)
/// the `access_token` parameter.
pub(crate) fn bearer_of(parts: &Parts) -> Result<Option<String>, ApiError> {
    bearer_in(parts.headers.get(AUTHORIZATION).map(|h| h.as_bytes()), parts.uri.query())
}

/// [`bearer_of`] from the `Authorization` header's value and the query.
pub(crate) fn bearer_in(authorization: Option<&[u8]>, query: Option<&str>) -> Result<Option<String>, ApiError> {
    if let Some(h) = authorization {
        let h = std::str::from_utf8(h).map_err(|_| ApiError::unauthorized())?;
        let (scheme, token) = h.split_once(' ').ok_or_else(ApiError::unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError::unauthorized());
        }
        return Ok(Some(token.trim().to_string()));
    }
    // Doorkeeper, and so Mastodon, also accepts the token as a parameter.
    let from_query = query.and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v)
    });
    Ok(from_query)
}

/// The cache key of a token: a digest, so the shared cache never holds a
/// usable token.
pub fn cache_key(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(token.as_bytes());
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("auth:{hex}")
}

/// Token → identity, through the shared cache. Only valid tokens are
/// cached (a flood of bad ones cannot fill it); a cache that is down costs
/// a lookup in `users`, never a failed request.
pub(crate) async fn resolve(gw: &Gateway, token: &str) -> Result<AuthInfo, ApiError> {
    let key = cache_key(token);
    if let Ok(Some(bytes)) = gw.shared.get(&key).await
        && let Ok(info) = serde_json::from_slice::<AuthInfo>(&bytes)
    {
        return Ok(info);
    }
    let info = gw.users.authenticate(token).await.or_api()?.ok_or_else(ApiError::unauthorized)?;
    if let Ok(bytes) = serde_json::to_vec(&info)
        && let Err(e) = gw.shared.set(&key, &bytes, gw.settings.http.auth_cache_ttl()).await
    {
        tracing::warn!(error = %e, "token cache unavailable; checking tokens in users");
    }
    Ok(info)
}

/// The token check the edge middleware already made for this request.
#[derive(Clone)]
pub(crate) enum Verified {
    Anonymous,
    Invalid,
    Valid(AuthInfo),
}

/// The request's identity: from the edge's check when there was one
/// (always, behind the gateway's router), else checked here.
async fn identity(parts: &Parts, gw: &Gateway) -> Result<Option<AuthInfo>, ApiError> {
    match parts.extensions.get::<Verified>() {
        Some(Verified::Valid(info)) => Ok(Some(info.clone())),
        Some(Verified::Invalid) => Err(ApiError::unauthorized()),
        Some(Verified::Anonymous) => Ok(None),
        None => match bearer_of(parts)? {
            None => Ok(None),
            Some(token) => Ok(Some(resolve(gw, &token).await?)),
        },
    }
}

pub struct Auth(pub AuthInfo);

impl Auth {
    /// The signed-in account, provided the token grants `scope`.
    pub fn user(&self, scope: &str) -> Result<Id, ApiError> {
        self.app(scope)?;
        self.0.account_id.ok_or_else(|| ApiError::unprocessable("This method requires an authenticated user"))
    }

    /// Any token (user or app) that grants `scope`.
    pub fn app(&self, scope: &str) -> Result<(), ApiError> {
        if self.0.scopes.allows(scope) { Ok(()) } else { Err(ApiError::out_of_scope()) }
    }
}

impl FromRequestParts<Gateway> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, gw: &Gateway) -> Result<Self, ApiError> {
        Ok(Auth(identity(parts, gw).await?.ok_or_else(ApiError::unauthorized)?))
    }
}

pub struct MaybeAuth(pub Option<AuthInfo>);

impl MaybeAuth {
    /// The viewing account, if any. A token lacking `scope` is refused
    /// rather than downgraded to anonymous.
    pub fn viewer(&self, scope: &str) -> Result<Option<Id>, ApiError> {
        match &self.0 {
            None => Ok(None),
            Some(info) if info.scopes.allows(scope) => Ok(info.account_id),
            Some(_) => Err(ApiError::out_of_scope()),
        }
    }
}

impl FromRequestParts<Gateway> for MaybeAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, gw: &Gateway) -> Result<Self, ApiError> {
        Ok(MaybeAuth(identity(parts, gw).await?))
    }
}
