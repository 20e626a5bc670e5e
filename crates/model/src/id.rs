//! 64-bit, time-sortable identifiers.
//!
//! Layout (most significant first): 1 unused sign bit, 41 bits of
//! milliseconds since [`EPOCH_MS`] (≈ 69 years), 10 bits of worker id,
//! 12 bits of per-millisecond sequence. Ids therefore sort by creation time
//! across workers, which is what keyset pagination relies on, and two
//! workers never mint the same id as long as their worker ids differ.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// 2024-01-01T00:00:00Z in Unix milliseconds.
pub const EPOCH_MS: u64 = 1_704_067_200_000;
const WORKER_BITS: u32 = 10;
const SEQ_BITS: u32 = 12;
pub const MAX_WORKER: u16 = (1 << WORKER_BITS) - 1;

/// An entity id. Serialised as a decimal string, as Mastodon does, because
/// JavaScript clients cannot hold 64-bit integers exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(i64);

impl Id {
    pub const fn from_i64(raw: i64) -> Self {
        Id(raw)
    }
    pub const fn get(self) -> i64 {
        self.0
    }
    /// Unix milliseconds at which this id was minted.
    pub fn unix_millis(self) -> i64 {
        ((self.0 as u64 >> (WORKER_BITS + SEQ_BITS)) + EPOCH_MS) as i64
    }
    /// The smallest id that could be minted at `unix_ms`; used to turn a
    /// timestamp into a keyset cursor.
    pub fn lowest_at(unix_ms: i64) -> Self {
        let since = (unix_ms as u64).saturating_sub(EPOCH_MS);
        Id((since << (WORKER_BITS + SEQ_BITS)) as i64)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("not a valid id")]
pub struct BadId;

impl FromStr for Id {
    type Err = BadId;
    fn from_str(s: &str) -> Result<Self, BadId> {
        match s.parse::<i64>() {
            Ok(v) if v > 0 => Ok(Id(v)),
            _ => Err(BadId),
        }
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            N(i64),
        }
        match Raw::deserialize(d)? {
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
            Raw::N(n) if n > 0 => Ok(Id(n)),
            Raw::N(_) => Err(serde::de::Error::custom("id must be positive")),
        }
    }
}

/// Mints ids for one worker. Cheap to share behind an `Arc`; the lock is
/// held for a few instructions and never across an await.
#[derive(Debug)]
pub struct IdGenerator {
    worker: u64,
    state: Mutex<(u64, u64)>,
}

impl IdGenerator {
    /// `worker` must be unique among running instances (see the config).
    pub fn new(worker: u16) -> Self {
        assert!(worker <= MAX_WORKER, "worker id {worker} exceeds {MAX_WORKER}");
        IdGenerator { worker: worker as u64, state: Mutex::new((0, 0)) }
    }

    pub fn next(&self) -> Id {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("system clock is after 1970").as_millis() as u64;
        let mut st = self.state.lock().expect("id generator lock poisoned");
        let (last, seq) = *st;
        // A clock that steps backwards must not produce duplicates or
        // out-of-order ids: keep counting from the last millisecond used.
        let ms = now.max(last);
        let (ms, seq) =
            if ms == last { if seq + 1 >= (1 << SEQ_BITS) { (last + 1, 0) } else { (last, seq + 1) } } else { (ms, 0) };
        *st = (ms, seq);
        let since = ms.saturating_sub(EPOCH_MS);
        Id(((since << (WORKER_BITS + SEQ_BITS)) | (self.worker << SEQ_BITS) | seq) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_strictly_increasing_and_unique() {
        let g = IdGenerator::new(7);
        let mut prev = g.next();
        for _ in 0..20_000 {
            let next = g.next();
            assert!(next > prev);
            prev = next;
        }
    }

    #[test]
    fn ids_carry_their_creation_time() {
        let g = IdGenerator::new(1);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
        let id = g.next();
        assert!((id.unix_millis() - now).abs() < 1000);
        assert!(Id::lowest_at(id.unix_millis()) <= id);
    }

    #[test]
    fn ids_serialise_as_strings_and_parse_back() {
        let id = Id::from_i64(1234567890123);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"1234567890123\"");
        let back: Id = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!("abc".parse::<Id>().is_err());
        assert!("-5".parse::<Id>().is_err());
    }
}
