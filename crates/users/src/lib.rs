//! The `users` component: accounts, credentials, OAuth applications and
//! tokens, and the follow graph.
//!
//! Other components reach it only through [`UsersApi`]. [`UsersService`] is
//! the in-process implementation over the component's own database; a
//! remote implementation over `/internal/users/…` will implement the same
//! trait for split mode. State changes that others care about
//! (`account.created`, `follow.created`, `follow.removed`) are written to the
//! outbox in the same transaction as the change.
#![forbid(unsafe_code)]

mod api;
mod secrets;
mod service;

pub use api::*;

use model::IdGenerator;
use sqlx::SqlitePool;
use std::path::Path;
use std::sync::Arc;
use store::Outbox;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The in-process `users` service: a cheap clonable handle.
#[derive(Clone)]
pub struct UsersService {
    pool: SqlitePool,
    ids: Arc<IdGenerator>,
    outbox: Outbox,
}

impl UsersService {
    pub const COMPONENT: &'static str = "users";

    pub async fn open(data_dir: &Path, ids: Arc<IdGenerator>) -> anyhow::Result<Self> {
        let pool = store::sqlite::open(data_dir, Self::COMPONENT, &MIGRATOR).await?;
        Ok(UsersService { pool, ids, outbox: Outbox::new() })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}

fn unexpected(e: impl Into<store::StoreError>) -> UsersError {
    match e.into() {
        store::StoreError::Unavailable(e) => UsersError::Unavailable(e.to_string()),
        store::StoreError::Conflict(c) => UsersError::Conflict(c),
        store::StoreError::Other(e) => UsersError::Unexpected(e.into()),
    }
}
