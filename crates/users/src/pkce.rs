//! Proof Key for Code Exchange (RFC 7636): a public client (a browser or
//! mobile app, which cannot keep its client secret) proves that the one
//! redeeming an authorization code is the one that asked for it.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PkceMethod {
    S256,
    Plain,
}

impl PkceMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PkceMethod::S256 => "S256",
            PkceMethod::Plain => "plain",
        }
    }
}

/// The challenge an authorization request carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pkce {
    pub challenge: String,
    pub method: PkceMethod,
}

/// Verifiers and plain challenges: 43–128 unreserved characters (§4.1).
fn is_verifier(s: &str) -> bool {
    (43..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

impl Pkce {
    /// The challenge of an authorization request: none when it gave none;
    /// the method defaults to `plain` (§4.3).
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<Option<Pkce>, String> {
        let method = match method {
            None | Some("plain") => PkceMethod::Plain,
            Some("S256") => PkceMethod::S256,
            Some(other) => return Err(format!("code_challenge_method {other:?} is not supported (S256 or plain)")),
        };
        let Some(challenge) = challenge else {
            return Ok(None);
        };
        let well_formed = match method {
            // BASE64URL(SHA-256) without padding is always 43 characters.
            PkceMethod::S256 => {
                challenge.len() == 43 && base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(challenge).is_ok()
            }
            PkceMethod::Plain => is_verifier(challenge),
        };
        if !well_formed {
            return Err("code_challenge is malformed".into());
        }
        Ok(Some(Pkce { challenge: challenge.to_string(), method }))
    }

    /// Whether `verifier` answers this challenge.
    pub fn verifies(&self, verifier: &str) -> bool {
        if !is_verifier(verifier) {
            return false;
        }
        let expected = match self.method {
            PkceMethod::S256 => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier)),
            PkceMethod::Plain => verifier.to_string(),
        };
        // Compared without an early exit, so timing says nothing of a prefix.
        expected.len() == self.challenge.len()
            && expected.bytes().zip(self.challenge.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_example_verifies() {
        // RFC 7636, appendix B.
        let pkce = Pkce::parse(Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), Some("S256")).unwrap().unwrap();
        assert!(pkce.verifies("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!pkce.verifies("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"));
        assert!(!pkce.verifies(""));
    }

    #[test]
    fn plain_is_the_default_method_and_compares_verbatim() {
        let v = "a".repeat(43);
        let pkce = Pkce::parse(Some(&v), None).unwrap().unwrap();
        assert_eq!(pkce.method, PkceMethod::Plain);
        assert!(pkce.verifies(&v));
        assert!(!pkce.verifies(&"a".repeat(44)));
    }

    #[test]
    fn malformed_challenges_and_methods_are_refused() {
        assert!(Pkce::parse(Some("short"), Some("S256")).is_err());
        assert!(Pkce::parse(Some(&"a".repeat(42)), None).is_err());
        assert!(Pkce::parse(Some(&"a".repeat(43)), Some("S512")).is_err());
        assert!(Pkce::parse(Some(&"é".repeat(30)), None).is_err());
        assert_eq!(Pkce::parse(None, None), Ok(None));
    }
}
