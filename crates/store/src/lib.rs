//! The SQL store port: opening a component's database and the
//! transactional outbox that every event-publishing component shares.
//!
//! Each component owns one database (one SQLite file all-in-one) and runs its
//! own migrations against it; nothing here knows any component's tables
//! except `outbox`, which every publisher declares in its own migrations
//! with the shape [`outbox`] expects.
#![forbid(unsafe_code)]

pub mod outbox;
pub mod sqlite;

pub use outbox::{Outbox, OutboxRelay};

/// Errors from the store, split by what the caller can do about them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or timed out: retryable, a 503.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A uniqueness rule was violated; carries the constraint's text.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(transparent)]
    Other(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => StoreError::Unavailable(e),
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_string()),
            _ => StoreError::Other(e),
        }
    }
}
