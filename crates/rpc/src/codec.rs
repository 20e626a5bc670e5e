//! How arguments and answers are encoded on the wire: the one place that
//! chooses the format. JSON today (readable with curl while debugging;
//! docs/ARCHITECTURE.md says why); a binary encoding is a change here
//! alone, since both the generated clients and dispatchers call these two
//! functions.

use crate::WireError;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The `Content-Type` of encoded bodies.
pub const CONTENT_TYPE: &str = "application/json";

pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, WireError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| WireError::new(crate::ErrorKind::Unexpected, format!("unencodable value: {e}")))
}

/// Decodes a call's arguments or answer; what does not fit is the sender's
/// bug, answered as a malformed call.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    serde_json::from_slice(body)
        .map_err(|e| WireError::new(crate::ErrorKind::BadRequest, format!("undecodable body: {e}")))
}
