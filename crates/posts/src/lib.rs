//! The `posts` component: statuses, their threads and per-author counters.
//!
//! Reached only through [`PostsApi`]; [`PostsService`] is the in-process
//! implementation over the component's own database. Creating or deleting a
//! post writes `post.created` / `post.deleted` to the outbox in the same
//! transaction. Visibility decisions that need the follow graph are made by
//! the caller (the gateway), which knows the viewer; `posts` answers what it
//! owns.
#![forbid(unsafe_code)]

mod api;
mod service;

pub use api::*;

use model::IdGenerator;
use sqlx::SqlitePool;
use std::path::Path;
use std::sync::Arc;
use store::Outbox;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone)]
pub struct PostsService {
    pool: SqlitePool,
    ids: Arc<IdGenerator>,
    outbox: Outbox,
}

impl PostsService {
    pub const COMPONENT: &'static str = "posts";
    /// How long an `Idempotency-Key` is remembered.
    pub const IDEMPOTENCY_TTL_MS: i64 = 60 * 60 * 1000;

    pub async fn open(data_dir: &Path, ids: Arc<IdGenerator>) -> anyhow::Result<Self> {
        let pool = store::sqlite::open(data_dir, Self::COMPONENT, &MIGRATOR).await?;
        Ok(PostsService { pool, ids, outbox: Outbox::new() })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}
