//! The `notifications` component: what happened to an account that it
//! should hear about, recorded from the bus and read by the gateway.
//!
//! It consumes the events of other components and records each
//! notification exactly once per cause: the row's `cause` key is unique, so
//! a redelivered event adds nothing, and undoing the cause (an unfollow)
//! removes it. Like `timelines`, its handler re-reads the current state at
//! the source before acting, so a late event never resurrects what is gone.
//!
//! What it records today: follows. Favourites, boosts, mentions and the
//! rest arrive with the events that carry them.
#![forbid(unsafe_code)]

mod api;
mod component;
mod handler;
mod service;

pub use api::*;
pub use component::{COMPONENT, NotificationsComponent};
pub use handler::NotificationsHandler;

use model::IdGenerator;
use posts::PostsApi;
use std::sync::Arc;
use store::{Db, DbConfig, Migrations};
use users::UsersApi;

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
/// This component's schema, for each engine.
pub const MIGRATIONS: Migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES };

/// The in-process `notifications` service: a cheap clonable handle.
#[derive(Clone)]
pub struct NotificationsService {
    db: Db,
    ids: Arc<IdGenerator>,
    /// Where the handler checks that a cause still holds.
    users: Arc<dyn UsersApi>,
    posts: Arc<dyn PostsApi>,
}

impl NotificationsService {
    pub const COMPONENT: &'static str = "notifications";

    pub async fn open(
        config: &DbConfig,
        ids: Arc<IdGenerator>,
        users: Arc<dyn UsersApi>,
        posts: Arc<dyn PostsApi>,
    ) -> anyhow::Result<Self> {
        let db = Db::open(config, Self::COMPONENT, &MIGRATIONS).await?;
        Ok(NotificationsService { db, ids, users, posts })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}
