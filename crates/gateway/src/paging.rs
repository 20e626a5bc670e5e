//! Cursors from request parameters and the `Link` header that hands
//! clients the next and previous pages.

use crate::Gateway;
use crate::params::Params;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::HOST;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header::LINK};
use model::{Id, Page};
use platform::ApiError;
use std::net::SocketAddr;

pub fn page(params: &Params) -> Result<Page, ApiError> {
    let cursor = |k: &str| -> Result<Option<Id>, ApiError> {
        match params.text(k) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| ApiError::validation(format!("{k} must be an id"))),
        }
    };
    // Mastodon clamps an oversized limit instead of refusing it.
    let limit = params.usize("limit")?.unwrap_or(Page::DEFAULT_LIMIT).clamp(1, Page::MAX_LIMIT);
    Ok(Page { max_id: cursor("max_id")?, since_id: cursor("since_id")?, min_id: cursor("min_id")?, limit })
}

/// The URL clients reach us at: `instance.public_url`. Without one (a
/// server on loopback, where the binary allows that) the request's `Host`
/// is used only if it names this machine, or if a trusted proxy sent it,
/// with `X-Forwarded-Proto` from that proxy alone: anyone else's headers
/// must not shape the links in answers (`https://evil.example/@alice`).
pub struct BaseUrl(pub String);

/// Whether `host` (with or without a port) names the loopback interface.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host
            .rsplit_once(':')
            .map_or(host, |(name, port)| if port.bytes().all(|b| b.is_ascii_digit()) { name } else { host }),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl FromRequestParts<Gateway> for BaseUrl {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, gw: &Gateway) -> Result<Self, ApiError> {
        if let Some(u) = &gw.settings.instance.public_url {
            return Ok(BaseUrl(u.trim_end_matches('/').to_string()));
        }
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let trusted = peer.is_some_and(|p| gw.settings.http.trusted_proxies.contains(&p));
        let host = parts
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .filter(|h| h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
            .filter(|h| trusted || is_loopback_host(h))
            .unwrap_or("localhost");
        let scheme = match parts.headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()) {
            Some("https") if trusted => "https",
            _ => "http",
        };
        Ok(BaseUrl(format!("{scheme}://{host}")))
    }
}

/// `Link: <…?max_id=oldest>; rel="next", <…?min_id=newest>; rel="prev"`,
/// keeping the request's other parameters (limit, filters). `ids` are the
/// page's cursor keys, newest first; an empty page gets no header.
pub fn link_header(base: &str, path: &str, query: Option<&str>, ids: &[Id]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let (Some(newest), Some(oldest)) = (ids.first(), ids.last()) else {
        return headers;
    };
    let keep: Vec<(String, String)> = query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "max_id" | "min_id" | "since_id" | "access_token"))
        .collect();
    let url = |key: &str, id: &Id| {
        let mut q = keep.clone();
        q.push((key.to_string(), id.to_string()));
        format!("{base}{path}?{}", serde_urlencoded::to_string(&q).expect("string pairs always encode"))
    };
    let value = format!(r#"<{}>; rel="next", <{}>; rel="prev""#, url("max_id", oldest), url("min_id", newest));
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(LINK, v);
    }
    headers
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts_are_recognised_with_and_without_ports() {
        for host in ["localhost", "LOCALHOST:8080", "127.0.0.1", "127.0.0.1:45833", "[::1]:8080", "[::1]", "127.1.2.3"]
        {
            assert!(super::is_loopback_host(host), "{host}");
        }
        for host in ["evil.example", "evil.example:80", "10.0.0.1:8080", "[2001:db8::1]:80", "localhost.evil.example"] {
            assert!(!super::is_loopback_host(host), "{host}");
        }
    }
}
