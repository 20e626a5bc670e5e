//! Password checks under attack. Every check (the password grant, the
//! authorize form) is counted per client address — IPv6 by /64, which one
//! host usually holds whole — and per login named, in sliding windows
//! shared by all gateways (`limits`). Past either limit the answer is 429
//! with `Retry-After`; nothing is locked for good: the counts slide away.
//! The CPU and memory a check costs are bounded in `users`.

use crate::Gateway;
use axum::http::StatusCode;
use platform::ApiError;
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// The client's address as the edge settled it (see `edge::client_ip`),
/// for handlers that limit by it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub Option<IpAddr>);

/// The unit an address is counted in: IPv4 whole, IPv6 by /64.
fn address_key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".into(),
    }
}

/// Logins as keys: case and spacing do not make a new one, and a key's
/// length does not follow what the client sent.
fn login_key(login: &str) -> String {
    let digest = Sha256::digest(login.trim().to_lowercase().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Counts a password check by `ip` for `login`; `Err` (429) when either
/// limit is reached.
pub(crate) async fn admit(gw: &Gateway, ip: Option<IpAddr>, login: &str) -> Result<(), ApiError> {
    let limits = &gw.limits;
    if !limits.settings.enabled {
        return Ok(());
    }
    let checks = [
        ("password_ip", address_key(ip), limits.settings.password_per_ip),
        ("password_login", login_key(login), limits.settings.password_per_account),
    ];
    for (bucket, who, limit) in checks {
        match limits.hit_sliding(bucket, &who, limit).await {
            Ok(v) if !v.allowed => {
                let wait = ((v.reset_ms - limits.now_ms()).max(0) as u64).div_ceil(1000);
                tracing::warn!(bucket, who, "password checks throttled");
                let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
                e.retry_after = Some(wait.max(1));
                return Err(e);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, bucket, "password-check counters unavailable; letting the check through")
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_count_by_64_and_mapped_ipv4_as_ipv4() {
        let a = address_key("2001:db8:1:2:aaaa::1".parse().ok());
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, address_key("2001:db8:1:2:ffff:ffff:ffff:ffff".parse().ok()));
        assert_ne!(a, address_key("2001:db8:1:3::1".parse().ok()));
        assert_eq!(address_key("::ffff:203.0.113.9".parse().ok()), "203.0.113.9");
    }

    #[test]
    fn logins_are_keyed_without_case_or_spacing() {
        assert_eq!(login_key("Alice@Example.org "), login_key("alice@example.org"));
        assert_ne!(login_key("alice"), login_key("alice@example.org"));
        assert_eq!(login_key(&"x".repeat(100_000)).len(), 32);
    }
}
