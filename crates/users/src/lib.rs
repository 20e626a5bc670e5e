//! The `users` component: accounts, credentials, OAuth applications and
//! tokens, and the follow graph.
//!
//! Other components reach it only through [`UsersApi`]. [`UsersService`] is
//! the in-process implementation over the component's own database;
//! [`RemoteUsers`], generated from the same declaration, reaches it over
//! `/internal/users/…` in split mode. State changes that others care about
//! (`account.created`, `follow.created`, `follow.removed`) are written to the
//! outbox in the same transaction as the change.
#![forbid(unsafe_code)]

mod api;
mod cached;
mod component;
mod import;
mod pkce;
mod secrets;
mod service;

pub use api::*;
pub use cached::{CachedUsers, UsersRecords, account_records};
pub use component::{COMPONENT, UsersComponent};
pub use import::Imported;
pub use pkce::{Pkce, PkceMethod};
pub use secrets::PasswordHashing;

use model::IdGenerator;
use std::sync::Arc;
use store::{Db, DbConfig, Migrations, Outbox};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
/// This component's schema, for each engine.
pub const MIGRATIONS: Migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES };

/// The in-process `users` service: a cheap clonable handle.
#[derive(Clone)]
pub struct UsersService {
    db: Db,
    ids: Arc<IdGenerator>,
    outbox: Outbox,
    /// Kept current after each change, when readers cache records.
    records: Option<UsersRecords>,
    /// Bounds the password hashing running at once.
    hashing: secrets::HashingPermits,
}

/// `[users]`: settings of the `users` component.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsersSettings {
    pub password_hashing: PasswordHashing,
}

impl UsersSettings {
    pub fn validate(&self) -> std::result::Result<(), String> {
        self.password_hashing.validate()
    }
}

impl UsersService {
    pub const COMPONENT: &'static str = "users";

    pub async fn open(config: &DbConfig, ids: Arc<IdGenerator>) -> anyhow::Result<Self> {
        let db = Db::open(config, Self::COMPONENT, &MIGRATIONS).await?;
        let hashing = secrets::HashingPermits::new(&PasswordHashing::default());
        Ok(UsersService { db, ids, outbox: Outbox::new(), records: None, hashing })
    }

    /// Bounds password hashing as `settings` say (the default otherwise).
    pub fn with_password_hashing(mut self, settings: &PasswordHashing) -> Self {
        self.hashing = secrets::HashingPermits::new(settings);
        self
    }

    /// Keeps `records` current: every change of an account or its timeline
    /// filters this service commits is written there, so readers through
    /// [`CachedUsers`] see it at once.
    pub fn with_records(mut self, records: UsersRecords) -> Self {
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

fn unexpected(e: impl Into<store::StoreError>) -> UsersError {
    match e.into() {
        store::StoreError::Unavailable(e) => UsersError::Unavailable(e.to_string()),
        store::StoreError::Conflict(c) => UsersError::Conflict(c),
        store::StoreError::Other(e) => UsersError::Unexpected(e.into()),
    }
}
