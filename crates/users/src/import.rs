//! Bulk import: many accounts, their follows and a token each, written
//! straight to this component's tables in multi-row statements. For loading
//! a fresh deployment (load tests, migrations from elsewhere): no events are
//! published, so nothing is fanned out; home timelines are built from the
//! store on their first read, as after a cache loss.

use crate::secrets::{blocking, digest, hash_password, random_secret};
use crate::{NewApp, UsersApi, UsersService};
use model::time_fmt::now_millis;
use model::{Id, Scopes};

/// An imported account and the token issued for it.
#[derive(Debug, Clone)]
pub struct Imported {
    pub id: Id,
    pub username: String,
    pub token: String,
}

impl UsersService {
    /// Creates `usernames` (all with `password`, e-mail
    /// `<username>@import.invalid`), the follows `(follower, followee)` by
    /// index into `usernames`, and a `read write follow` token for each
    /// account, under one application named `aviary-import`.
    pub async fn import(
        &self,
        usernames: &[String],
        password: &str,
        follows: &[(usize, usize)],
    ) -> anyhow::Result<Vec<Imported>> {
        let password = password.to_string();
        // One hash for all: argon2 per account would take minutes.
        let hash = blocking(move || hash_password(&password)).await??;
        let scopes = Scopes::parse("read write follow").map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let (app, _) = self
            .create_app(NewApp {
                name: "aviary-import".into(),
                website: None,
                redirect_uris: vec!["urn:ietf:wg:oauth:2.0:oob".into()],
                scopes: scopes.clone(),
            })
            .await?;
        let now = now_millis();
        let accounts: Vec<Imported> = usernames
            .iter()
            .map(|u| Imported { id: self.ids.next(), username: u.clone(), token: random_secret() })
            .collect();
        let pool = &self.db.pool;
        store::insert_rows(
            pool,
            "INSERT INTO accounts (id, username, email, password_hash, created_at)",
            5,
            &accounts,
            |q, a| {
                q.bind(a.id.get())
                    .bind(a.username.clone())
                    .bind(format!("{}@import.invalid", a.username))
                    .bind(hash.clone())
                    .bind(now)
            },
        )
        .await?;
        let scope_text = scopes.to_string_joined();
        let tokens: Vec<(i64, String, i64)> =
            accounts.iter().map(|a| (self.ids.next().get(), digest(&a.token), a.id.get())).collect();
        store::insert_rows(
            pool,
            "INSERT INTO tokens (id, token_hash, app_id, account_id, scopes, created_at)",
            6,
            &tokens,
            |q, t| q.bind(t.0).bind(t.1.clone()).bind(app.id.get()).bind(t.2).bind(scope_text.clone()).bind(now),
        )
        .await?;
        let edges: Vec<(i64, i64, i64)> =
            follows.iter().map(|&(a, b)| (self.ids.next().get(), accounts[a].id.get(), accounts[b].id.get())).collect();
        store::insert_rows(
            pool,
            "INSERT INTO follows (id, follower_id, followee_id, created_at)",
            4,
            &edges,
            |q, e| q.bind(e.0).bind(e.1).bind(e.2).bind(now),
        )
        .await?;
        sqlx::query(
            "UPDATE accounts SET
                followers_count = (SELECT COUNT(*) FROM follows f WHERE f.followee_id = accounts.id),
                following_count = (SELECT COUNT(*) FROM follows f WHERE f.follower_id = accounts.id)",
        )
        .execute(pool)
        .await?;
        Ok(accounts)
    }
}
