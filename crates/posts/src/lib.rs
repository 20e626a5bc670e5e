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
mod cached;
mod component;
mod import;
mod polls;
mod service;
mod tags;

pub use api::*;
pub use cached::{CachedPosts, PostsRecords};
pub use component::{COMPONENT, PostsComponent};

use model::IdGenerator;
use std::sync::Arc;
use store::{Db, DbConfig, Migrations, Outbox};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
/// This component's schema, for each engine.
pub const MIGRATIONS: Migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES };

#[derive(Clone)]
pub struct PostsService {
    db: Db,
    ids: Arc<IdGenerator>,
    outbox: Outbox,
    /// Kept current after each change, when readers cache records.
    records: Option<PostsRecords>,
}

impl PostsService {
    pub const COMPONENT: &'static str = "posts";
    /// How long an `Idempotency-Key` is remembered.
    pub const IDEMPOTENCY_TTL_MS: i64 = 60 * 60 * 1000;

    pub async fn open(config: &DbConfig, ids: Arc<IdGenerator>) -> anyhow::Result<Self> {
        let db = Db::open(config, Self::COMPONENT, &MIGRATIONS).await?;
        Ok(PostsService { db, ids, outbox: Outbox::new(), records: None })
    }

    /// Keeps `records` current: every change this service commits is
    /// written there, so readers through [`CachedPosts`] see it at once.
    pub fn with_records(mut self, records: PostsRecords) -> Self {
        self.records = Some(records);
        self
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}
