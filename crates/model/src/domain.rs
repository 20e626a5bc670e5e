//! Validated domain types. Each can only be built through `parse`, so a raw
//! string from a request never reaches storage unchecked.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A rejected input, phrased for the person who sent it. The gateway turns
/// it into a 422 `{"error": "Validation failed: …"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DomainError(pub String);

fn invalid(msg: impl Into<String>) -> DomainError {
    DomainError(msg.into())
}

/// A local username: 1–30 of `[A-Za-z0-9_]`, as Mastodon allows.
/// Deserialising validates too, so the type's promise holds after a trip
/// between components.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub const MAX: usize = 30;
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(invalid("Username can't be blank"));
        }
        if raw.chars().count() > Self::MAX {
            return Err(invalid("Username is too long (maximum is 30 characters)"));
        }
        if !raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid("Username must contain only letters, numbers and underscores"));
        }
        Ok(Username(raw.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address, checked only for shape; it is never used to send mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let raw = raw.trim();
        let ok = raw.len() <= 254
            && !raw.chars().any(char::is_whitespace)
            && matches!(raw.split_once('@'), Some((local, domain))
                if !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
                    && !domain.ends_with('.') && !domain.contains('@'));
        if ok { Ok(Email(raw.to_lowercase())) } else { Err(invalid("Email is invalid")) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password between 8 and 72 characters (Mastodon's bounds). Its Debug
/// form is redacted so it cannot leak into logs. It serialises only to
/// travel from the gateway to `users` (never logged, never stored).
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw.chars().count() {
            0..=7 => Err(invalid("Password is too short (minimum is 8 characters)")),
            8..=72 => Ok(Password(raw.to_string())),
            _ => Err(invalid("Password is too long (maximum is 72 characters)")),
        }
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The text of a status. Length is counted as Mastodon counts it: in
/// characters, with every URL counting as [`PostText::URL_WEIGHT`]. The
/// limit is the instance's (checked by the gateway); deserialising checks
/// only what holds everywhere (not blank, under an absolute ceiling).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PostText(String);

impl PostText {
    pub const MAX_CHARS: usize = 500;
    /// No instance may configure more (see `instance.max_characters`).
    pub const ABSOLUTE_MAX: usize = 100_000;
    pub const URL_WEIGHT: usize = 23;

    pub fn parse(raw: &str, max_chars: usize) -> Result<Self, DomainError> {
        if raw.trim().is_empty() {
            return Err(invalid("Text can't be blank"));
        }
        let len = Self::weighted_len(raw);
        if len > max_chars {
            return Err(invalid(format!("Text character limit of {max_chars} exceeded")));
        }
        Ok(PostText(raw.to_string()))
    }

    /// Character count with each `http(s)://` token weighted as a fixed
    /// length, so a long link costs no more than a short one.
    pub fn weighted_len(raw: &str) -> usize {
        let mut total = 0;
        let mut rest = raw;
        while !rest.is_empty() {
            let start = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
            total += rest[..start].chars().count();
            rest = &rest[start..];
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let word = &rest[..end];
            if is_url(word) {
                total += Self::URL_WEIGHT;
            } else {
                total += word.chars().count();
            }
            rest = &rest[end..];
        }
        total
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub fn is_url(word: &str) -> bool {
    let rest = word.strip_prefix("https://").or_else(|| word.strip_prefix("http://"));
    matches!(rest, Some(r) if r.len() > 1 && r.contains('.'))
}

/// Who may see a status: anyone (and listed in public timelines), anyone
/// (unlisted), the author's followers (private), or only the accounts it
/// mentions (direct). The author and mentioned accounts always may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Unlisted,
    Private,
    Direct,
}

impl Visibility {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "public" => Ok(Visibility::Public),
            "unlisted" => Ok(Visibility::Unlisted),
            "private" => Ok(Visibility::Private),
            "direct" => Ok(Visibility::Direct),
            _ => Err(invalid("Visibility is not included in the list")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Unlisted => "unlisted",
            Visibility::Private => "private",
            Visibility::Direct => "direct",
        }
    }
}

/// OAuth scopes: the top-level `read`, `write`, `follow`, `push`, `profile`
/// and their granular forms. Stored as the space-separated string the client
/// asked for, validated and de-duplicated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scopes(Vec<String>);

const TOP_LEVEL: &[&str] = &["read", "write", "follow", "push", "profile"];
const GRANULAR: &[&str] = &[
    "read:accounts",
    "read:blocks",
    "read:bookmarks",
    "read:favourites",
    "read:filters",
    "read:follows",
    "read:lists",
    "read:mutes",
    "read:notifications",
    "read:search",
    "read:statuses",
    "write:accounts",
    "write:blocks",
    "write:bookmarks",
    "write:conversations",
    "write:favourites",
    "write:filters",
    "write:follows",
    "write:lists",
    "write:media",
    "write:mutes",
    "write:notifications",
    "write:reports",
    "write:statuses",
];

impl Scopes {
    /// Every scope a client may ask for (the server metadata lists them).
    pub fn all_known() -> impl Iterator<Item = &'static str> {
        TOP_LEVEL.iter().chain(GRANULAR).copied()
    }

    /// Parses a space- (or `+`-) separated list. An empty string means the
    /// default, `read`, as in Mastodon.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let mut out: Vec<String> = Vec::new();
        for s in raw.split(|c: char| c.is_whitespace() || c == '+').filter(|s| !s.is_empty()) {
            if !TOP_LEVEL.contains(&s) && !GRANULAR.contains(&s) {
                return Err(invalid(format!("Scopes include an unknown scope: {s}")));
            }
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
        if out.is_empty() {
            out.push("read".into());
        }
        Ok(Scopes(out))
    }

    /// Whether this set grants `required` (always a granular scope or
    /// `profile`). `follow` is the legacy umbrella for follows, blocks and mutes.
    pub fn allows(&self, required: &str) -> bool {
        let (family, _) = required.split_once(':').unwrap_or((required, ""));
        self.0.iter().any(|s| {
            s == required
                || s == family
                || (s == "follow"
                    && matches!(
                        required,
                        "read:follows"
                            | "write:follows"
                            | "read:blocks"
                            | "write:blocks"
                            | "read:mutes"
                            | "write:mutes"
                    ))
                || (required == "profile" && (s == "read" || s == "read:accounts"))
        })
    }

    /// True when every scope of `self` is also granted by `app` (a token may
    /// ask for a subset of what its application registered).
    pub fn is_subset_of(&self, app: &Scopes) -> bool {
        self.0.iter().all(|s| app.0.iter().any(|a| a == s) || app.allows(s))
    }

    pub fn to_string_joined(&self) -> String {
        self.0.join(" ")
    }
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

macro_rules! string_conversions {
    ($($ty:ident => $parse:expr),* $(,)?) => {$(
        impl TryFrom<String> for $ty {
            type Error = DomainError;
            fn try_from(raw: String) -> Result<Self, DomainError> {
                $parse(&raw)
            }
        }
        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.0
            }
        }
    )*};
}

string_conversions! {
    Username => Username::parse,
    Email => Email::parse,
    Password => Password::parse,
    PostText => |raw: &str| PostText::parse(raw, PostText::ABSOLUTE_MAX),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_mastodon_rules() {
        assert!(Username::parse("alice_01").is_ok());
        assert!(Username::parse("").is_err());
        assert!(Username::parse("al ice").is_err());
        assert!(Username::parse("élodie").is_err());
        assert!(Username::parse(&"a".repeat(31)).is_err());
    }

    #[test]
    fn post_text_counts_characters_and_urls() {
        assert!(PostText::parse("", 500).is_err());
        assert!(PostText::parse("   \n", 500).is_err());
        assert!(PostText::parse(&"é".repeat(500), 500).is_ok());
        assert!(PostText::parse(&"é".repeat(501), 500).is_err());
        let long_url = format!("https://example.com/{}", "x".repeat(600));
        assert_eq!(PostText::weighted_len(&format!("see {long_url}")), 4 + 23);
        assert!(PostText::parse(&format!("see {long_url}"), 500).is_ok());
    }

    #[test]
    fn scopes_grant_their_granular_forms() {
        let s = Scopes::parse("read write:statuses follow").unwrap();
        assert!(s.allows("read:statuses"));
        assert!(s.allows("write:statuses"));
        assert!(s.allows("write:follows"));
        assert!(!s.allows("write:accounts"));
        assert!(Scopes::parse("read bogus").is_err());
        assert_eq!(Scopes::parse("").unwrap().to_string_joined(), "read");
        let app = Scopes::parse("read write").unwrap();
        assert!(Scopes::parse("read:statuses write").unwrap().is_subset_of(&app));
        assert!(!Scopes::parse("follow").unwrap().is_subset_of(&app));
    }

    #[test]
    fn emails_and_passwords_are_checked() {
        assert!(Email::parse("a@b.io").is_ok());
        assert!(Email::parse("a@b").is_err());
        assert!(Email::parse("nope").is_err());
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("long enough").is_ok());
        assert_eq!(format!("{:?}", Password::parse("long enough").unwrap()), "Password(***)");
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<Username>("\"ok_name\"").is_ok());
        assert!(serde_json::from_str::<Username>("\"not ok\"").is_err());
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
        assert!(serde_json::from_str::<PostText>("\"  \"").is_err());
        assert_eq!(serde_json::to_string(&Username::parse("a_b").unwrap()).unwrap(), "\"a_b\"");
    }
}
