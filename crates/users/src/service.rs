//! [`UsersApi`] over the component's own SQLite database.

use crate::secrets::{digest, hash_password, random_secret, verify_password};
use crate::{unexpected, *};
use async_trait::async_trait;
use model::time_fmt::now_millis;
use model::{Envelope, Event, Id, Page, Scopes, Visibility};
use sqlx::Row;
use sqlx::any::AnyRow;
use store::id_list;

const AUTH_CODE_TTL_MS: i64 = 10 * 60 * 1000;

/// A hash of a random password, verified when the login is unknown so that
/// "no such user" and "wrong password" take the same time.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("dummy password for timing").expect("argon2 works"));

fn account_row(r: &AnyRow) -> AccountRecord {
    AccountRecord {
        id: Id::from_i64(r.get("id")),
        username: r.get("username"),
        display_name: r.get("display_name"),
        note: r.get("note"),
        locked: r.get::<i64, _>("locked") != 0,
        bot: r.get::<i64, _>("bot") != 0,
        followers_count: r.get::<i64, _>("followers_count").max(0) as u64,
        following_count: r.get::<i64, _>("following_count").max(0) as u64,
        created_at_ms: r.get("created_at"),
    }
}

fn app_row(r: &AnyRow) -> AppRecord {
    let uris: String = r.get("redirect_uris");
    let scopes: String = r.get("scopes");
    AppRecord {
        id: Id::from_i64(r.get("id")),
        name: r.get("name"),
        website: r.get("website"),
        redirect_uris: uris.split('\n').filter(|s| !s.is_empty()).map(String::from).collect(),
        scopes: Scopes::parse(&scopes).expect("stored scopes were validated on write"),
        client_id: r.get("client_id"),
    }
}

impl UsersService {
    async fn account_by(&self, id: Id) -> Result<AccountRecord> {
        self.accounts(&[id]).await?.pop().ok_or(UsersError::NotFound)
    }

    /// After a commit that changed `ids`' accounts: stores them as
    /// committed (re-read, so concurrent changes are not undone).
    async fn refresh_records(&self, ids: &[Id]) {
        let Some(records) = &self.records else { return };
        match self.accounts(ids).await {
            Ok(accounts) => records.accounts.store(&accounts).await,
            Err(e) => {
                tracing::error!(error = %e, "cannot re-read changed accounts for the record cache; readers may see old counters until they expire")
            }
        }
    }

    /// A page of follow edges; `sql` is the [newest-first, oldest-first]
    /// pair of the same query, chosen by the page's direction.
    /// A page of the rows of `table` (`follows`, `follow_requests`) whose
    /// `key` column is `account`: each row's id and its `other` account.
    async fn edges(
        &self,
        table: &'static str,
        key: &'static str,
        other: &'static str,
        account: Id,
        page: &Page,
    ) -> Result<Vec<FollowEdge>> {
        let rows = self.edge_rows(table, key, other, "", account, page).await?;
        let mut edges: Vec<FollowEdge> = rows
            .iter()
            .map(|r| FollowEdge { follow_id: Id::from_i64(r.get(0)), account_id: Id::from_i64(r.get(1)) })
            .collect();
        edges.sort_by_key(|e| std::cmp::Reverse(e.follow_id));
        Ok(edges)
    }

    /// Rows of `table` where `key` is `account` (and `also`, a condition
    /// of this file's, holds), keyset-paged by id: the id, then `columns`.
    async fn edge_rows(
        &self,
        table: &'static str,
        key: &'static str,
        columns: &'static str,
        also: &'static str,
        account: Id,
        page: &Page,
    ) -> Result<Vec<AnyRow>> {
        let order = page.sql_order();
        // Table, columns, condition and order are constants of this file; values are bound.
        let sql = format!(
            "SELECT id, {columns} FROM {table} WHERE {key} = $1 {also}
             AND ($2 IS NULL OR id < $2) AND ($3 IS NULL OR id > $3) ORDER BY id {order} LIMIT $4"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account.get())
            .bind(page.max_id.map(Id::get))
            .bind(page.lower().map(Id::get))
            .bind(page.limit as i64);
        if !also.is_empty() {
            // A condition may compare with the time, as $5.
            query = query.bind(now_millis());
        }
        query.fetch_all(self.db.reader()).await.map_err(unexpected)
    }

    /// After a commit that changed what `ids`' home timelines keep out
    /// (blocks, mutes, follows and their options): their filters stored
    /// as committed.
    async fn refresh_filters(&self, ids: &[Id]) {
        let Some(records) = &self.records else { return };
        let mut fresh = Vec::with_capacity(ids.len());
        for &account in ids {
            match self.timeline_filters(account).await {
                Ok(filters) => fresh.push(crate::cached::AccountFilters { account, filters }),
                Err(e) => {
                    tracing::error!(%account, error = %e, "cannot re-read changed timeline filters for the record cache; home timelines may apply old ones until they expire")
                }
            }
        }
        records.filters.store(&fresh).await;
    }

    /// Whether either account blocks the other.
    async fn blocked_between(&self, a: Id, b: Id) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM blocks WHERE (account_id = $1 AND target_id = $2) OR (account_id = $2 AND target_id = $1)",
        )
        .bind(a.get())
        .bind(b.get())
        .fetch_one(&self.db.pool)
        .await
        .map_err(unexpected)?;
        Ok(n > 0)
    }

    async fn change_follow(&self, follower: Id, followee: Id, follow: bool) -> Result<RelationshipRecord> {
        if follower == followee {
            return Err(UsersError::Forbidden("You cannot follow yourself".into()));
        }
        let target = self.account_by(followee).await?;
        if follow && self.blocked_between(follower, followee).await? {
            return Err(UsersError::Forbidden("This action is not allowed".into()));
        }
        let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
        let (changed, requested) = if follow && target.locked {
            // A locked account is asked, unless it is followed already.
            // The insert is the transaction's first statement (see `edge`).
            let asked = sqlx::query(
                "INSERT INTO follow_requests (id, follower_id, followee_id, created_at)
                 SELECT $1, $2, $3, $4
                 WHERE NOT EXISTS (SELECT 1 FROM follows WHERE follower_id = $2 AND followee_id = $3)
                 ON CONFLICT (follower_id, followee_id) DO NOTHING",
            )
            .bind(self.ids.next().get())
            .bind(follower.get())
            .bind(followee.get())
            .bind(now_millis())
            .execute(&mut *tx)
            .await
            .map_err(unexpected)?
            .rows_affected()
                == 1;
            if asked {
                let event = Event::FollowRequestCreated { follower_id: follower, followee_id: followee };
                Outbox::enqueue(&mut tx, &Envelope::new(Self::COMPONENT, event)).await.map_err(unexpected)?;
            }
            (false, asked)
        } else {
            if !follow {
                // Unfollowing withdraws a request still waiting.
                sqlx::query("DELETE FROM follow_requests WHERE follower_id = $1 AND followee_id = $2")
                    .bind(follower.get())
                    .bind(followee.get())
                    .execute(&mut *tx)
                    .await
                    .map_err(unexpected)?;
            }
            (Self::edge(&mut tx, &self.ids, follower, followee, follow).await?, false)
        };
        tx.commit().await.map_err(unexpected)?;
        if changed || requested {
            self.outbox.wake();
        }
        if changed {
            self.refresh_records(&[follower, followee]).await;
            // An ended follow takes its hidden boosts with it.
            self.refresh_filters(&[follower]).await;
        }
        Ok(self.relationships(follower, &[followee]).await?.remove(0))
    }

    /// An account that unlocks no longer asks: the requests waiting for it
    /// become follows, as Mastodon does, each in its own transaction (a
    /// failure leaves the rest waiting, to be approved on the next unlock
    /// or by hand).
    async fn approve_waiting(&self, account: Id) -> Result<()> {
        loop {
            let waiting = self.follow_requests(account, &Page::first(Page::MAX_LIMIT)).await?;
            if waiting.is_empty() {
                return Ok(());
            }
            for request in waiting {
                match self.answer_follow_request(account, request.account_id, true).await {
                    // Withdrawn meanwhile.
                    Ok(_) | Err(UsersError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// Adds or removes the follow edge with its counters and event; whether
    /// it changed. Counters and the event change only when the edge did, so
    /// following twice is a no-op rather than a double count. The edge is
    /// written first in the transaction: on SQLite a transaction that read
    /// first could not write once another had committed meanwhile.
    async fn edge(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        ids: &IdGenerator,
        follower: Id,
        followee: Id,
        follow: bool,
    ) -> Result<bool> {
        let changed = if follow {
            sqlx::query(
                "INSERT INTO follows (id, follower_id, followee_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (follower_id, followee_id) DO NOTHING",
            )
            .bind(ids.next().get())
            .bind(follower.get())
            .bind(followee.get())
            .bind(now_millis())
            .execute(&mut **tx)
            .await
            .map_err(unexpected)?
            .rows_affected()
        } else {
            sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
                .bind(follower.get())
                .bind(followee.get())
                .execute(&mut **tx)
                .await
                .map_err(unexpected)?
                .rows_affected()
        };
        if changed != 1 {
            return Ok(false);
        }
        let delta: i64 = if follow { 1 } else { -1 };
        sqlx::query("UPDATE accounts SET following_count = following_count + $1 WHERE id = $2")
            .bind(delta)
            .bind(follower.get())
            .execute(&mut **tx)
            .await
            .map_err(unexpected)?;
        sqlx::query("UPDATE accounts SET followers_count = followers_count + $1 WHERE id = $2")
            .bind(delta)
            .bind(followee.get())
            .execute(&mut **tx)
            .await
            .map_err(unexpected)?;
        let event = if follow {
            Event::FollowCreated { follower_id: follower, followee_id: followee }
        } else {
            Event::FollowRemoved { follower_id: follower, followee_id: followee }
        };
        Outbox::enqueue(&mut *tx, &Envelope::new(Self::COMPONENT, event)).await.map_err(unexpected)?;
        Ok(true)
    }
}

#[async_trait]
impl UsersApi for UsersService {
    async fn create_app(&self, app: NewApp) -> Result<(AppRecord, String)> {
        if app.name.trim().is_empty() {
            return Err(UsersError::Validation("Name can't be blank".into()));
        }
        if app.redirect_uris.is_empty() {
            return Err(UsersError::Validation("Redirect URI can't be blank".into()));
        }
        for uri in &app.redirect_uris {
            // The gateway checks the form (absolute http(s), an app's own
            // scheme, the OOB URN); this only keeps out what has no scheme.
            let ok = uri == "urn:ietf:wg:oauth:2.0:oob" || uri.contains(':');
            if !ok || uri.contains('\n') {
                return Err(UsersError::Validation("Redirect URI must be an absolute URI.".into()));
            }
        }
        let id = self.ids.next();
        let client_id = random_secret();
        let client_secret = random_secret();
        sqlx::query(
            "INSERT INTO apps (id, name, website, redirect_uris, scopes, client_id, client_secret_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.get())
        .bind(app.name.trim())
        .bind(&app.website)
        .bind(app.redirect_uris.join("\n"))
        .bind(app.scopes.to_string_joined())
        .bind(&client_id)
        .bind(digest(&client_secret))
        .bind(now_millis())
        .execute(&self.db.pool)
        .await
        .map_err(unexpected)?;
        let record = AppRecord {
            id,
            name: app.name.trim().to_string(),
            website: app.website,
            redirect_uris: app.redirect_uris,
            scopes: app.scopes,
            client_id,
        };
        Ok((record, client_secret))
    }

    async fn authenticate_client(&self, client_id: &str, client_secret: &str) -> Result<AppRecord> {
        let row = sqlx::query("SELECT * FROM apps WHERE client_id = $1 AND client_secret_hash = $2")
            .bind(client_id)
            .bind(digest(client_secret))
            .fetch_optional(&self.db.pool)
            .await
            .map_err(unexpected)?;
        row.map(|r| app_row(&r)).ok_or(UsersError::InvalidClient)
    }

    async fn app_by_client_id(&self, client_id: &str) -> Result<AppRecord> {
        let row = sqlx::query("SELECT * FROM apps WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.db.pool)
            .await
            .map_err(unexpected)?;
        row.map(|r| app_row(&r)).ok_or(UsersError::InvalidClient)
    }

    async fn issue_token(&self, app_id: Id, account_id: Option<Id>, scopes: Scopes) -> Result<IssuedToken> {
        let token = random_secret();
        let now = now_millis();
        sqlx::query(
            "INSERT INTO tokens (id, token_hash, app_id, account_id, scopes, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.ids.next().get())
        .bind(digest(&token))
        .bind(app_id.get())
        .bind(account_id.map(Id::get))
        .bind(scopes.to_string_joined())
        .bind(now)
        .execute(&self.db.pool)
        .await
        .map_err(unexpected)?;
        Ok(IssuedToken { access_token: token, scopes, created_at_ms: now })
    }

    async fn authenticate(&self, token: &str) -> Result<Option<AuthInfo>> {
        let row = sqlx::query(
            "SELECT t.id AS token_id, t.account_id, t.scopes AS token_scopes, a.*
             FROM tokens t JOIN apps a ON a.id = t.app_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(digest(token))
        .fetch_optional(&self.db.pool)
        .await
        .map_err(unexpected)?;
        Ok(row.map(|r| {
            let scopes: String = r.get("token_scopes");
            AuthInfo {
                token_id: Id::from_i64(r.get("token_id")),
                account_id: r.get::<Option<i64>, _>("account_id").map(Id::from_i64),
                scopes: Scopes::parse(&scopes).expect("stored scopes were validated on write"),
                app: app_row(&r),
            }
        }))
    }

    async fn revoke_token(&self, app_id: Id, token: &str) -> Result<()> {
        // Revoking an unknown or foreign token is not an error (RFC 7009 §2.2):
        // the caller learns nothing about other apps' tokens.
        // A revoked token is deleted, not kept marked: nothing reads it again.
        sqlx::query("DELETE FROM tokens WHERE token_hash = $1 AND app_id = $2")
            .bind(digest(token))
            .bind(app_id.get())
            .execute(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(())
    }

    async fn create_auth_code(&self, grant: CodeGrant) -> Result<String> {
        let code = random_secret();
        let now = now_millis();
        // Expired codes are purged as new ones are made: the table holds
        // at most the codes of the last ten minutes.
        sqlx::query("DELETE FROM auth_codes WHERE expires_at < $1")
            .bind(now)
            .execute(&self.db.pool)
            .await
            .map_err(unexpected)?;
        sqlx::query(
            "INSERT INTO auth_codes (code_hash, app_id, account_id, scopes, redirect_uri, expires_at,
                                     code_challenge, code_challenge_method)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(digest(&code))
        .bind(grant.app_id.get())
        .bind(grant.account_id.get())
        .bind(grant.scopes.to_string_joined())
        .bind(&grant.redirect_uri)
        .bind(now + AUTH_CODE_TTL_MS)
        .bind(grant.pkce.as_ref().map(|p| p.challenge.clone()))
        .bind(grant.pkce.as_ref().map(|p| p.method.as_str()))
        .execute(&self.db.pool)
        .await
        .map_err(unexpected)?;
        Ok(code)
    }

    async fn redeem_auth_code(
        &self,
        app_id: Id,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<String>,
    ) -> Result<(Id, Scopes)> {
        // DELETE … RETURNING makes the code single-use even under races; a
        // wrong verifier spends it too, so a stolen code allows one guess.
        let row = sqlx::query(
            "DELETE FROM auth_codes WHERE code_hash = $1 AND app_id = $2
             RETURNING account_id, scopes, redirect_uri, expires_at, code_challenge, code_challenge_method",
        )
        .bind(digest(code))
        .bind(app_id.get())
        .fetch_optional(&self.db.pool)
        .await
        .map_err(unexpected)?;
        let invalid = || {
            UsersError::InvalidGrant("The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.".into())
        };
        let row = row.ok_or_else(invalid)?;
        if row.get::<i64, _>("expires_at") < now_millis() || row.get::<String, _>("redirect_uri") != redirect_uri {
            return Err(invalid());
        }
        let challenge: Option<String> = row.get("code_challenge");
        if let Some(challenge) = challenge {
            let method = row.get::<Option<String>, _>("code_challenge_method");
            let pkce = Pkce::parse(Some(&challenge), method.as_deref())
                .map_err(|e| UsersError::Unexpected(anyhow::anyhow!("stored PKCE challenge: {e}")))?
                .expect("a challenge was given");
            if !code_verifier.is_some_and(|v| pkce.verifies(&v)) {
                return Err(UsersError::InvalidGrant(
                    "The code_verifier is missing or does not match the code_challenge of the authorization request."
                        .into(),
                ));
            }
        }
        let scopes: String = row.get("scopes");
        Ok((Id::from_i64(row.get("account_id")), Scopes::parse(&scopes).expect("validated on write")))
    }

    async fn sign_up(&self, s: SignUp) -> Result<AccountRecord> {
        let password = s.password.clone();
        let hash = self.hashing.run(move || hash_password(password.expose())).await.ok_or_else(hashing_busy)???;
        let id = self.ids.next();
        let now = now_millis();
        let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, username, email, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.get())
        .bind(s.username.as_str())
        .bind(s.email.as_str())
        .bind(hash)
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            return Err(match unexpected(e) {
                UsersError::Conflict(msg) if msg.contains("email") => UsersError::Conflict("Email".into()),
                UsersError::Conflict(_) => UsersError::Conflict("Username".into()),
                other => other,
            });
        }
        let event = Event::AccountCreated { account_id: id, username: s.username.as_str().to_string() };
        Outbox::enqueue(&mut tx, &Envelope::new(Self::COMPONENT, event)).await.map_err(unexpected)?;
        tx.commit().await.map_err(unexpected)?;
        self.outbox.wake();
        self.account_by(id).await
    }

    async fn check_password(&self, login: &str, password: &str) -> Result<Option<Id>> {
        let row = sqlx::query(
            "SELECT id, password_hash FROM accounts WHERE lower(email) = lower($1) OR lower(username) = lower($2)",
        )
        .bind(login)
        .bind(login)
        .fetch_optional(&self.db.pool)
        .await
        .map_err(unexpected)?;
        let (id, hash) = match row {
            Some(r) => (Some(Id::from_i64(r.get("id"))), r.get::<String, _>("password_hash")),
            None => (None, DUMMY_HASH.clone()),
        };
        let password = password.to_string();
        let ok = self.hashing.run(move || verify_password(&password, &hash)).await.ok_or_else(hashing_busy)??;
        Ok(if ok { id } else { None })
    }

    async fn accounts(&self, ids: &[Id]) -> Result<Vec<AccountRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(self.db.sql(
            "SELECT id, username, display_name, note, locked, bot, followers_count, following_count, created_at
             FROM accounts WHERE id IN (SELECT value FROM json_each($1))",
            "SELECT id, username, display_name, note, locked, bot, followers_count, following_count, created_at
             FROM accounts WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint)",
        ))
        .bind(id_list(ids))
        .fetch_all(&self.db.pool)
        .await
        .map_err(unexpected)?;
        Ok(rows.iter().map(account_row).collect())
    }

    async fn lookup(&self, username: &str) -> Result<Option<AccountRecord>> {
        let row = sqlx::query(
            "SELECT id, username, display_name, note, locked, bot, followers_count, following_count, created_at
             FROM accounts WHERE lower(username) = lower($1)",
        )
        .bind(username)
        .fetch_optional(&self.db.pool)
        .await
        .map_err(unexpected)?;
        Ok(row.as_ref().map(account_row))
    }

    async fn update_profile(
        &self,
        id: Id,
        display_name: Option<String>,
        note: Option<String>,
        locked: Option<bool>,
    ) -> Result<AccountRecord> {
        if display_name.as_ref().is_some_and(|d| d.chars().count() > 30) {
            return Err(UsersError::Validation("Display name is too long (maximum is 30 characters)".into()));
        }
        if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
            return Err(UsersError::Validation("Note is too long (maximum is 500 characters)".into()));
        }
        sqlx::query(
            "UPDATE accounts SET display_name = COALESCE($1, display_name), note = COALESCE($2, note),
                                 locked = COALESCE($3, locked) WHERE id = $4",
        )
        .bind(display_name)
        .bind(note)
        .bind(locked.map(i64::from))
        .bind(id.get())
        .execute(&self.db.pool)
        .await
        .map_err(unexpected)?;
        if locked == Some(false) {
            self.approve_waiting(id).await?;
        }
        let account = self.account_by(id).await?;
        if let Some(records) = &self.records {
            records.accounts.store(std::slice::from_ref(&account)).await;
        }
        Ok(account)
    }

    async fn preferences(&self, account: Id) -> Result<Preferences> {
        let account = self.account_by(account).await?;
        // Mastodon's defaults for an account that has not set its own: a
        // locked account posts to its followers only.
        let posting_visibility = if account.locked { Visibility::Private } else { Visibility::Public };
        Ok(Preferences {
            posting_visibility,
            posting_sensitive: false,
            posting_language: None,
            expand_media: "default".into(),
            expand_spoilers: false,
        })
    }

    async fn account_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(self.db.reader())
            .await
            .map_err(unexpected)?;
        Ok(n as u64)
    }

    async fn follow(&self, follower: Id, followee: Id) -> Result<RelationshipRecord> {
        self.change_follow(follower, followee, true).await
    }

    async fn unfollow(&self, follower: Id, followee: Id) -> Result<RelationshipRecord> {
        self.change_follow(follower, followee, false).await
    }

    async fn relationships(&self, viewer: Id, ids: &[Id]) -> Result<Vec<RelationshipRecord>> {
        let list =
            self.db.sql("SELECT value FROM json_each($2)", "SELECT jsonb_array_elements_text($2::jsonb)::bigint");
        // Every kind of edge between the viewer and the accounts in one
        // statement: a row per edge, its kind first, then two flags.
        // The id list's unpacking is a constant; values are bound.
        let sql = format!(
            "SELECT 0, followee_id, show_reblogs, notify FROM follows WHERE follower_id = $1 AND followee_id IN ({list})
             UNION ALL SELECT 1, follower_id, 0, 0 FROM follows WHERE followee_id = $1 AND follower_id IN ({list})
             UNION ALL SELECT 2, followee_id, show_reblogs, notify FROM follow_requests
               WHERE follower_id = $1 AND followee_id IN ({list})
             UNION ALL SELECT 3, follower_id, 0, 0 FROM follow_requests WHERE followee_id = $1 AND follower_id IN ({list})
             UNION ALL SELECT 4, target_id, 0, 0 FROM blocks WHERE account_id = $1 AND target_id IN ({list})
             UNION ALL SELECT 5, account_id, 0, 0 FROM blocks WHERE target_id = $1 AND account_id IN ({list})
             UNION ALL SELECT 6, target_id, notifications, 0 FROM mutes WHERE account_id = $1 AND target_id IN ({list})
               AND (expires_at IS NULL OR expires_at > $3)"
        );
        let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(viewer.get())
            .bind(id_list(ids))
            .bind(now_millis())
            .fetch_all(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(ids
            .iter()
            .map(|&id| {
                let mut r = RelationshipRecord::none(id);
                for &(kind, _, a, b) in rows.iter().filter(|row| row.1 == id.get()) {
                    match kind {
                        0 => (r.following, r.showing_reblogs, r.notifying) = (true, a != 0, b != 0),
                        1 => r.followed_by = true,
                        2 if !r.following => (r.requested, r.showing_reblogs, r.notifying) = (true, a != 0, b != 0),
                        2 => r.requested = true,
                        3 => r.requested_by = true,
                        4 => r.blocking = true,
                        5 => r.blocked_by = true,
                        _ => (r.muting, r.muting_notifications) = (true, a != 0),
                    }
                }
                r
            })
            .collect())
    }

    async fn follow_requests(&self, account: Id, page: &Page) -> Result<Vec<FollowEdge>> {
        self.edges("follow_requests", "followee_id", "follower_id", account, page).await
    }

    async fn follow_request_count(&self, account: Id) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM follow_requests WHERE followee_id = $1")
            .bind(account.get())
            .fetch_one(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(n.max(0) as u64)
    }

    async fn answer_follow_request(&self, account: Id, requester: Id, accept: bool) -> Result<RelationshipRecord> {
        let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
        let pending: Option<(i64, i64)> = sqlx::query_as(
            "DELETE FROM follow_requests WHERE follower_id = $1 AND followee_id = $2 RETURNING show_reblogs, notify",
        )
        .bind(requester.get())
        .bind(account.get())
        .fetch_optional(&mut *tx)
        .await
        .map_err(unexpected)?;
        let Some((show_reblogs, notify)) = pending else { return Err(UsersError::NotFound) };
        let changed = accept && Self::edge(&mut tx, &self.ids, requester, account, true).await?;
        if changed {
            // What the requester asked of the follow, kept with the request.
            sqlx::query(
                "UPDATE follows SET show_reblogs = $1, notify = $2 WHERE follower_id = $3 AND followee_id = $4",
            )
            .bind(show_reblogs)
            .bind(notify)
            .bind(requester.get())
            .bind(account.get())
            .execute(&mut *tx)
            .await
            .map_err(unexpected)?;
        }
        tx.commit().await.map_err(unexpected)?;
        if changed {
            self.outbox.wake();
            self.refresh_records(&[requester, account]).await;
            self.refresh_filters(&[requester]).await;
        }
        Ok(self.relationships(account, &[requester]).await?.remove(0))
    }

    async fn followers(&self, account: Id, page: &Page) -> Result<Vec<FollowEdge>> {
        self.edges("follows", "followee_id", "follower_id", account, page).await
    }

    async fn following(&self, account: Id, page: &Page) -> Result<Vec<FollowEdge>> {
        self.edges("follows", "follower_id", "followee_id", account, page).await
    }

    async fn follower_ids(&self, account: Id) -> Result<Vec<Id>> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT follower_id FROM follows WHERE followee_id = $1")
            .bind(account.get())
            .fetch_all(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(ids.into_iter().map(Id::from_i64).collect())
    }

    async fn notified_followers(&self, account: Id) -> Result<Vec<Id>> {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT follower_id FROM follows WHERE followee_id = $1 AND notify <> 0")
                .bind(account.get())
                .fetch_all(&self.db.pool)
                .await
                .map_err(unexpected)?;
        Ok(ids.into_iter().map(Id::from_i64).collect())
    }

    async fn following_ids(&self, account: Id) -> Result<Vec<Id>> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT followee_id FROM follows WHERE follower_id = $1")
            .bind(account.get())
            .fetch_all(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(ids.into_iter().map(Id::from_i64).collect())
    }

    async fn is_following(&self, follower: Id, followee: Id) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM follows WHERE follower_id = $1 AND followee_id = $2")
            .bind(follower.get())
            .bind(followee.get())
            .fetch_one(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(n > 0)
    }

    async fn set_follow_options(
        &self,
        follower: Id,
        followee: Id,
        options: FollowOptions,
    ) -> Result<RelationshipRecord> {
        if options.reblogs.is_some() || options.notify.is_some() {
            let (reblogs, notify) = (options.reblogs.map(i64::from), options.notify.map(i64::from));
            let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
            let changed: Option<(i64, i64)> = sqlx::query_as(
                "UPDATE follows SET show_reblogs = COALESCE($1, show_reblogs), notify = COALESCE($2, notify)
                 WHERE follower_id = $3 AND followee_id = $4
                   AND (show_reblogs <> COALESCE($1, show_reblogs) OR notify <> COALESCE($2, notify))
                 RETURNING show_reblogs, notify",
            )
            .bind(reblogs)
            .bind(notify)
            .bind(follower.get())
            .bind(followee.get())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unexpected)?;
            sqlx::query(
                "UPDATE follow_requests SET show_reblogs = COALESCE($1, show_reblogs), notify = COALESCE($2, notify)
                 WHERE follower_id = $3 AND followee_id = $4",
            )
            .bind(reblogs)
            .bind(notify)
            .bind(follower.get())
            .bind(followee.get())
            .execute(&mut *tx)
            .await
            .map_err(unexpected)?;
            if let Some((show_reblogs, notify)) = changed {
                let event = Event::FollowUpdated {
                    follower_id: follower,
                    followee_id: followee,
                    show_reblogs: show_reblogs != 0,
                    notify: notify != 0,
                };
                Outbox::enqueue(&mut tx, &Envelope::new(Self::COMPONENT, event)).await.map_err(unexpected)?;
            }
            tx.commit().await.map_err(unexpected)?;
            if changed.is_some() {
                self.outbox.wake();
                self.refresh_filters(&[follower]).await;
            }
        }
        Ok(self.relationships(follower, &[followee]).await?.remove(0))
    }

    async fn block(&self, account: Id, target: Id, on: bool) -> Result<RelationshipRecord> {
        if account == target {
            return Err(UsersError::Validation("You cannot block yourself".into()));
        }
        self.account_by(target).await?;
        let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
        // The write comes first (it takes SQLite's write lock).
        let changed = if on {
            sqlx::query(
                "INSERT INTO blocks (id, account_id, target_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id, target_id) DO NOTHING",
            )
            .bind(self.ids.next().get())
            .bind(account.get())
            .bind(target.get())
            .bind(now_millis())
            .execute(&mut *tx)
            .await
        } else {
            sqlx::query("DELETE FROM blocks WHERE account_id = $1 AND target_id = $2")
                .bind(account.get())
                .bind(target.get())
                .execute(&mut *tx)
                .await
        }
        .map_err(unexpected)?
        .rows_affected()
            == 1;
        let mut unfollowed = false;
        if changed && on {
            // A block ends what is between the two, both ways.
            unfollowed |= Self::edge(&mut tx, &self.ids, account, target, false).await?;
            unfollowed |= Self::edge(&mut tx, &self.ids, target, account, false).await?;
            sqlx::query(
                "DELETE FROM follow_requests WHERE (follower_id = $1 AND followee_id = $2)
                                               OR (follower_id = $2 AND followee_id = $1)",
            )
            .bind(account.get())
            .bind(target.get())
            .execute(&mut *tx)
            .await
            .map_err(unexpected)?;
        }
        if changed {
            let event = if on {
                Event::BlockCreated { account_id: account, target_id: target }
            } else {
                Event::BlockRemoved { account_id: account, target_id: target }
            };
            Outbox::enqueue(&mut tx, &Envelope::new(Self::COMPONENT, event)).await.map_err(unexpected)?;
        }
        tx.commit().await.map_err(unexpected)?;
        if changed {
            self.outbox.wake();
            self.refresh_filters(&[account, target]).await;
        }
        if unfollowed {
            self.refresh_records(&[account, target]).await;
        }
        Ok(self.relationships(account, &[target]).await?.remove(0))
    }

    async fn mute(
        &self,
        account: Id,
        target: Id,
        notifications: bool,
        expires_at_ms: Option<i64>,
    ) -> Result<RelationshipRecord> {
        if account == target {
            return Err(UsersError::Validation("You cannot mute yourself".into()));
        }
        self.account_by(target).await?;
        let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
        // Muting again changes the terms; only a new mute is an event.
        let updated = sqlx::query(
            "UPDATE mutes SET notifications = $1, expires_at = $2 WHERE account_id = $3 AND target_id = $4",
        )
        .bind(i64::from(notifications))
        .bind(expires_at_ms)
        .bind(account.get())
        .bind(target.get())
        .execute(&mut *tx)
        .await
        .map_err(unexpected)?
        .rows_affected()
            == 1;
        let created = !updated
            && sqlx::query(
                "INSERT INTO mutes (id, account_id, target_id, notifications, expires_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, target_id) DO NOTHING",
            )
            .bind(self.ids.next().get())
            .bind(account.get())
            .bind(target.get())
            .bind(i64::from(notifications))
            .bind(expires_at_ms)
            .bind(now_millis())
            .execute(&mut *tx)
            .await
            .map_err(unexpected)?
            .rows_affected()
                == 1;
        if created {
            let event = Event::MuteCreated { account_id: account, target_id: target, notifications };
            Outbox::enqueue(&mut tx, &Envelope::new(Self::COMPONENT, event)).await.map_err(unexpected)?;
        }
        tx.commit().await.map_err(unexpected)?;
        if created {
            self.outbox.wake();
            self.refresh_filters(&[account]).await;
        }
        Ok(self.relationships(account, &[target]).await?.remove(0))
    }

    async fn unmute(&self, account: Id, target: Id) -> Result<RelationshipRecord> {
        self.account_by(target).await?;
        let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
        let removed = sqlx::query("DELETE FROM mutes WHERE account_id = $1 AND target_id = $2")
            .bind(account.get())
            .bind(target.get())
            .execute(&mut *tx)
            .await
            .map_err(unexpected)?
            .rows_affected()
            == 1;
        if removed {
            let event = Event::MuteRemoved { account_id: account, target_id: target };
            Outbox::enqueue(&mut tx, &Envelope::new(Self::COMPONENT, event)).await.map_err(unexpected)?;
        }
        tx.commit().await.map_err(unexpected)?;
        if removed {
            self.outbox.wake();
            self.refresh_filters(&[account]).await;
        }
        Ok(self.relationships(account, &[target]).await?.remove(0))
    }

    async fn blocks(&self, account: Id, page: &Page) -> Result<Vec<FollowEdge>> {
        self.edges("blocks", "account_id", "target_id", account, page).await
    }

    async fn mutes(&self, account: Id, page: &Page) -> Result<Vec<MuteEdge>> {
        let rows = self
            .edge_rows(
                "mutes",
                "account_id",
                "target_id, expires_at",
                "AND (expires_at IS NULL OR expires_at > $5)",
                account,
                page,
            )
            .await?;
        let mut edges: Vec<MuteEdge> = rows
            .iter()
            .map(|r| MuteEdge {
                mute_id: Id::from_i64(r.get(0)),
                account_id: Id::from_i64(r.get(1)),
                expires_at_ms: r.get(2),
            })
            .collect();
        edges.sort_by_key(|e| std::cmp::Reverse(e.mute_id));
        Ok(edges)
    }

    async fn timeline_filters(&self, account: Id) -> Result<TimelineFilters> {
        // Mutes apply until swept (`expire_mutes`), not to the millisecond:
        // the sweep announces the end, and timelines that skipped the
        // muted account's posts take them back then.
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT 0, target_id FROM blocks WHERE account_id = $1
             UNION ALL SELECT 1, account_id FROM blocks WHERE target_id = $1
             UNION ALL SELECT 2, target_id FROM mutes WHERE account_id = $1
             UNION ALL SELECT 3, followee_id FROM follows WHERE follower_id = $1 AND show_reblogs = 0",
        )
        .bind(account.get())
        .fetch_all(&self.db.pool)
        .await
        .map_err(unexpected)?;
        let mut f = TimelineFilters::default();
        for (kind, id) in rows {
            let id = Id::from_i64(id);
            match kind {
                0 => f.blocking.push(id),
                1 => f.blocked_by.push(id),
                2 => f.muting.push(id),
                _ => f.hiding_reblogs.push(id),
            }
        }
        Ok(f)
    }

    async fn unreached(&self, author: Id, boosted: Option<Id>) -> Result<Vec<Id>> {
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT account_id FROM blocks WHERE target_id IN ($1, $2)
             UNION SELECT target_id FROM blocks WHERE account_id IN ($1, $2)
             UNION SELECT account_id FROM mutes WHERE target_id IN ($1, $2)
             UNION SELECT follower_id FROM follows WHERE $2 IS NOT NULL AND followee_id = $1 AND show_reblogs = 0",
        )
        .bind(author.get())
        .bind(boosted.map(Id::get))
        .fetch_all(&self.db.pool)
        .await
        .map_err(unexpected)?;
        Ok(rows.into_iter().map(Id::from_i64).collect())
    }

    async fn expire_mutes(&self) -> Result<u64> {
        let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
        // A batch at a time, so one sweep never holds the table long.
        let ended: Vec<(i64, i64)> = sqlx::query_as(
            "DELETE FROM mutes WHERE id IN (SELECT id FROM mutes WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT 500)
             RETURNING account_id, target_id",
        )
        .bind(now_millis())
        .fetch_all(&mut *tx)
        .await
        .map_err(unexpected)?;
        for &(account, target) in &ended {
            let event = Event::MuteRemoved { account_id: Id::from_i64(account), target_id: Id::from_i64(target) };
            Outbox::enqueue(&mut tx, &Envelope::new(Self::COMPONENT, event)).await.map_err(unexpected)?;
        }
        tx.commit().await.map_err(unexpected)?;
        if !ended.is_empty() {
            self.outbox.wake();
            let muters: std::collections::BTreeSet<Id> = ended.iter().map(|&(a, _)| Id::from_i64(a)).collect();
            self.refresh_filters(&muters.into_iter().collect::<Vec<_>>()).await;
        }
        Ok(ended.len() as u64)
    }
}

/// Every password-hashing permit stayed taken for the whole wait.
fn hashing_busy() -> UsersError {
    UsersError::Unavailable("too many password checks at once; try again shortly".into())
}
