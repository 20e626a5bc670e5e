//! Request parameters as Mastodon accepts them: from the query string and
//! from a JSON, form-encoded or multipart body, merged (body wins). Array
//! parameters may be written `key[]` or repeated `key`.
//!
//! Handlers read fields by name and convert them to domain types at once;
//! a malformed body is a 400, a body over the limit a 413, and a value of
//! the wrong type a 422 naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use model::Id;
use platform::ApiError;
use serde_json::Value;

#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

fn normalize(key: &str) -> String {
    key.strip_suffix("[]").unwrap_or(key).to_string()
}

impl Params {
    pub fn from_query(q: Option<&str>) -> Result<Self, ApiError> {
        let mut p = Params::default();
        if let Some(q) = q {
            p.add_form(q.as_bytes())?;
        }
        p.checked()
    }

    /// Refuses NUL characters anywhere: no text a client sends needs one,
    /// and PostgreSQL cannot store them (it would be a 500 later).
    fn checked(self) -> Result<Self, ApiError> {
        if self.pairs.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
            return Err(ApiError::bad_request("Parameters must not contain NUL characters"));
        }
        Ok(self)
    }

    fn add_form(&mut self, body: &[u8]) -> Result<(), ApiError> {
        if !form_is_utf8(body) {
            return Err(ApiError::bad_request("Malformed form parameters: not valid UTF-8"));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| ApiError::bad_request(format!("Malformed form parameters: {e}")))?;
        self.pairs.extend(pairs.into_iter().map(|(k, v)| (normalize(&k), v)));
        Ok(())
    }

    fn add_json(&mut self, body: &[u8]) -> Result<(), ApiError> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("Malformed JSON body: {e}")))?;
        let Value::Object(map) = v else {
            return Err(ApiError::unprocessable("The JSON body must be an object"));
        };
        for (k, v) in map {
            self.add_json_value(&normalize(&k), v);
        }
        Ok(())
    }

    fn add_json_value(&mut self, key: &str, v: Value) {
        match v {
            Value::Null => {}
            Value::String(s) => self.pairs.push((key.to_string(), s)),
            Value::Bool(b) => self.pairs.push((key.to_string(), b.to_string())),
            Value::Number(n) => self.pairs.push((key.to_string(), n.to_string())),
            Value::Array(items) => items.into_iter().for_each(|i| self.add_json_value(key, i)),
            Value::Object(m) => m.into_iter().for_each(|(k, v)| self.add_json_value(&format!("{key}[{k}]"), v)),
        }
    }

    /// The last value given for `key` (later sources override earlier).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A non-empty value for `key`.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    pub fn required(&self, key: &str) -> Result<&str, ApiError> {
        self.text(key).ok_or_else(|| ApiError::validation(format!("{key} is missing")))
    }

    /// Rails-style booleans: true/1/on/yes and false/0/off/no.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.text(key) {
            None => Ok(None),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "on" | "yes" | "t" => Ok(Some(true)),
                "false" | "0" | "off" | "no" | "f" => Ok(Some(false)),
                _ => Err(ApiError::validation(format!("{key} must be a boolean"))),
            },
        }
    }

    /// An id parameter. A value that is not an id cannot name a record, so
    /// it is treated as one that does not exist.
    pub fn id(&self, key: &str) -> Result<Option<Id>, ApiError> {
        match self.text(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| ApiError::not_found()),
        }
    }

    pub fn usize(&self, key: &str) -> Result<Option<usize>, ApiError> {
        match self.text(key) {
            None => Ok(None),
            Some(v) => {
                v.parse().map(Some).map_err(|_| ApiError::validation(format!("{key} must be a non-negative integer")))
            }
        }
    }
}

/// `serde_urlencoded` replaces invalid UTF-8 with U+FFFD; we would rather
/// refuse it than store mangled text.
fn form_is_utf8(body: &[u8]) -> bool {
    body.split(|&b| b == b'&' || b == b'=').all(|part| {
        let mut decoded = Vec::with_capacity(part.len());
        let mut i = 0;
        while i < part.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            match (part[i], part.get(i + 1).copied().and_then(hex), part.get(i + 2).copied().and_then(hex)) {
                (b'%', Some(h), Some(l)) => {
                    decoded.push((h * 16 + l) as u8);
                    i += 3;
                }
                (b, _, _) => {
                    decoded.push(b);
                    i += 1;
                }
            }
        }
        std::str::from_utf8(&decoded).is_ok()
    })
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let mut params = Params::from_query(req.uri().query())?;
        let content_type =
            req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(req, state)
                .await
                .map_err(|e| ApiError::new(e.status(), format!("Malformed multipart body: {}", e.body_text())))?;
            loop {
                match multipart.next_field().await {
                    Ok(Some(field)) => {
                        let Some(name) = field.name().map(normalize) else { continue };
                        if field.file_name().is_some() {
                            continue; // files are handled by the media routes
                        }
                        let text = field.text().await.map_err(|e| {
                            ApiError::new(e.status(), format!("Malformed multipart field: {}", e.body_text()))
                        })?;
                        params.pairs.push((name, text));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        return Err(ApiError::new(e.status(), format!("Malformed multipart body: {}", e.body_text())));
                    }
                }
            }
            return params.checked();
        }
        let body = Bytes::from_request(req, state).await.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return params.checked();
        }
        if content_type.starts_with("application/json") || content_type.contains("+json") {
            params.add_json(&body)?;
        } else if content_type.is_empty() || content_type.starts_with("application/x-www-form-urlencoded") {
            params.add_form(&body)?;
        } else {
            return Err(ApiError::new(
                http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Unsupported content type {content_type:?}: send JSON, a form or multipart"),
            ));
        }
        params.checked()
    }
}

pub(crate) fn has_control_or_space(s: &str) -> bool {
    s.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// `scheme://host…` with a host, for `http` and `https`.
pub(crate) fn is_web_url(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else { return false };
    matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
        && !rest.split(['/', '?', '#']).next().unwrap_or("").is_empty()
        && !has_control_or_space(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_form_flatten_to_the_same_pairs() {
        let mut a = Params::default();
        a.add_json(br#"{"id":[1,"2"],"ok":true,"source":{"note":"x"}}"#).unwrap();
        let mut b = Params::default();
        b.add_form(b"id[]=1&id[]=2&ok=true&source[note]=x").unwrap();
        assert_eq!(a.all("id"), vec!["1", "2"]);
        assert_eq!(b.all("id"), vec!["1", "2"]);
        assert_eq!(a.bool("ok").unwrap(), Some(true));
        assert_eq!(a.get("source[note]"), b.get("source[note]"));
    }

    #[test]
    fn malformed_json_is_a_400_and_wrong_types_a_422() {
        let mut p = Params::default();
        assert_eq!(p.add_json(b"{not json").unwrap_err().status, 400);
        assert_eq!(p.add_json(b"[1]").unwrap_err().status, 422);
        assert_eq!(p.add_form(b"status=%ff%fe").unwrap_err().status, 400);
        assert_eq!(p.add_form(b"status=\xff").unwrap_err().status, 400);
        p.add_form(b"status=%C3%A9&sensitive=maybe").unwrap();
        assert_eq!(p.get("status"), Some("é"));
        assert_eq!(p.bool("sensitive").unwrap_err().status, 422);
    }

    #[test]
    fn nul_characters_are_refused_in_every_form() {
        let mut json = Params::default();
        json.add_json(br#"{"status": "a\u0000b"}"#).unwrap();
        assert_eq!(json.checked().unwrap_err().status, 400);
        assert_eq!(Params::from_query(Some("status=a%00b")).unwrap_err().status, 400);
        assert_eq!(Params::from_query(Some("a%00=b")).unwrap_err().status, 400);
        assert!(Params::from_query(Some("status=ab")).is_ok());
    }
}
