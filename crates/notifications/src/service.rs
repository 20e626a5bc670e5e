//! [`NotificationsApi`] over the component's own database, and the writes
//! its event handler makes.

use crate::*;
use async_trait::async_trait;
use model::time_fmt::now_millis;
use model::{Id, Page, PageDirection};
use sqlx::Row;
use sqlx::any::AnyRow;

fn unexpected(e: impl Into<store::StoreError>) -> NotificationsError {
    match e.into() {
        store::StoreError::Unavailable(e) => NotificationsError::Unavailable(e.to_string()),
        other => NotificationsError::Unexpected(anyhow::Error::new(other)),
    }
}

fn row(r: &AnyRow) -> NotificationRecord {
    let kind: String = r.get("type");
    NotificationRecord {
        id: Id::from_i64(r.get("id")),
        account_id: Id::from_i64(r.get("account_id")),
        kind: NotificationType::parse(&kind).expect("the CHECK constraint admits only known types"),
        from_account_id: Id::from_i64(r.get("from_account_id")),
        status_id: r.get::<Option<i64>, _>("status_id").map(Id::from_i64),
        created_at_ms: r.get("created_at"),
    }
}

/// A JSON array of type names, bound as one parameter (see `store::id_list`).
fn type_list(kinds: &[NotificationType]) -> String {
    let names: Vec<String> = kinds.iter().map(|k| format!("\"{}\"", k.as_str())).collect();
    format!("[{}]", names.join(","))
}

/// An account's notifications of the types in `$2` (a JSON array, unpacked
/// by each engine's own function), from `$3` if given, between the cursors
/// `$4` and `$5`, in `order`: one statement, written once for both engines.
macro_rules! listing {
    (SQLITE_TYPES, $order:literal) => {
        listing!("SELECT value FROM json_each($2)", $order)
    };
    (POSTGRES_TYPES, $order:literal) => {
        listing!("SELECT jsonb_array_elements_text($2::jsonb)", $order)
    };
    ($types:literal, $order:literal) => {
        concat!(
            "SELECT * FROM notifications WHERE account_id = $1 AND type IN (",
            $types,
            ") AND ($3 IS NULL OR from_account_id = $3) AND ($4 IS NULL OR id < $4) AND ($5 IS NULL OR id > $5)",
            " ORDER BY id ",
            $order,
            " LIMIT $6"
        )
    };
}

impl NotificationsService {
    /// Records a notification of `kind` for `account`, caused by `from`
    /// (about `status`), once per `cause`: a redelivered event adds nothing.
    pub(crate) async fn record(
        &self,
        kind: NotificationType,
        account: Id,
        from: Id,
        status: Option<Id>,
        cause: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO notifications (id, account_id, type, from_account_id, status_id, cause, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (cause) DO NOTHING",
        )
        .bind(self.ids.next().get())
        .bind(account.get())
        .bind(kind.as_str())
        .bind(from.get())
        .bind(status.map(Id::get))
        .bind(cause)
        .bind(now_millis())
        .execute(&self.db.pool)
        .await
        .map_err(unexpected)?;
        Ok(())
    }

    /// Removes the notification `cause` made, if any.
    pub(crate) async fn remove_cause(&self, cause: &str) -> Result<()> {
        sqlx::query("DELETE FROM notifications WHERE cause = $1")
            .bind(cause)
            .execute(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(())
    }

    /// Removes every notification about post `status`, and that of the
    /// boost it was.
    pub(crate) async fn remove_status(&self, status: Id) -> Result<()> {
        sqlx::query("DELETE FROM notifications WHERE status_id = $1 OR cause = $2")
            .bind(status.get())
            .bind(cause::reblog(status))
            .execute(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(())
    }
}

/// The keys that make each notification unique to what caused it.
pub(crate) mod cause {
    use model::Id;

    pub fn follow(follower: Id, followee: Id) -> String {
        format!("follow:{}:{}", follower.get(), followee.get())
    }
    pub fn follow_request(follower: Id, followee: Id) -> String {
        format!("follow_request:{}:{}", follower.get(), followee.get())
    }
    pub fn favourite(account: Id, post: Id) -> String {
        format!("favourite:{}:{}", account.get(), post.get())
    }
    /// A boost is a post of its own: its id names it.
    pub fn reblog(boost: Id) -> String {
        format!("reblog:{}", boost.get())
    }
    pub fn mention(post: Id, account: Id) -> String {
        format!("mention:{}:{}", post.get(), account.get())
    }
    pub fn poll(post: Id, account: Id) -> String {
        format!("poll:{}:{}", post.get(), account.get())
    }
    pub fn status(post: Id, account: Id) -> String {
        format!("status:{}:{}", post.get(), account.get())
    }
    /// Each edit tells each booster once: the edit's event names it.
    pub fn update(post: Id, account: Id, event: &str) -> String {
        format!("update:{}:{}:{event}", post.get(), account.get())
    }
}

#[async_trait]
impl NotificationsApi for NotificationsService {
    async fn list(&self, account: Id, filter: &NotificationFilter, page: &Page) -> Result<Vec<NotificationRecord>> {
        let kinds = filter.kinds();
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let sql = match page.direction() {
            PageDirection::Descending => self.db.sql(listing!(SQLITE_TYPES, "DESC"), listing!(POSTGRES_TYPES, "DESC")),
            PageDirection::AscendingFromMin => {
                self.db.sql(listing!(SQLITE_TYPES, "ASC"), listing!(POSTGRES_TYPES, "ASC"))
            }
        };
        let rows = sqlx::query(sql)
            .bind(account.get())
            .bind(type_list(&kinds))
            .bind(filter.from_account.map(Id::get))
            .bind(page.max_id.map(Id::get))
            .bind(page.lower().map(Id::get))
            .bind(page.limit as i64)
            .fetch_all(&self.db.pool)
            .await
            .map_err(unexpected)?;
        let mut found: Vec<NotificationRecord> = rows.iter().map(row).collect();
        found.sort_by_key(|n| std::cmp::Reverse(n.id));
        Ok(found)
    }

    async fn get(&self, account: Id, id: Id) -> Result<Option<NotificationRecord>> {
        let found = sqlx::query("SELECT * FROM notifications WHERE id = $1 AND account_id = $2")
            .bind(id.get())
            .bind(account.get())
            .fetch_optional(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(found.as_ref().map(row))
    }

    async fn dismiss(&self, account: Id, id: Id) -> Result<()> {
        let done = sqlx::query("DELETE FROM notifications WHERE id = $1 AND account_id = $2")
            .bind(id.get())
            .bind(account.get())
            .execute(&self.db.pool)
            .await
            .map_err(unexpected)?;
        if done.rows_affected() == 0 {
            return Err(NotificationsError::NotFound);
        }
        Ok(())
    }

    async fn unread_count(&self, account: Id, filter: &NotificationFilter, limit: u64) -> Result<u64> {
        let kinds = filter.kinds();
        if kinds.is_empty() {
            return Ok(0);
        }
        let types = self.db.sql("SELECT value FROM json_each($2)", "SELECT jsonb_array_elements_text($2::jsonb)");
        // The unpacking is one of two constants; values are bound.
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM notifications WHERE account_id = $1 AND type IN ({types})
               AND ($3 IS NULL OR from_account_id = $3)
               AND id > COALESCE((SELECT last_read_id FROM markers WHERE account_id = $1 AND timeline = 'notifications'), 0)
               LIMIT $4) AS unread"
        );
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(account.get())
            .bind(type_list(&kinds))
            .bind(filter.from_account.map(Id::get))
            .bind(limit.min(i64::MAX as u64) as i64)
            .fetch_one(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(n.max(0) as u64)
    }

    async fn markers(&self, account: Id, timelines: &[MarkerTimeline]) -> Result<Vec<MarkerRecord>> {
        let rows = sqlx::query(
            "SELECT timeline, last_read_id, version, updated_at FROM markers WHERE account_id = $1 ORDER BY timeline",
        )
        .bind(account.get())
        .fetch_all(&self.db.pool)
        .await
        .map_err(unexpected)?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let timeline = MarkerTimeline::parse(&r.get::<String, _>(0))?;
                timelines.contains(&timeline).then(|| MarkerRecord {
                    timeline,
                    last_read_id: Id::from_i64(r.get(1)),
                    version: r.get::<i64, _>(2).max(0) as u64,
                    updated_at_ms: r.get(3),
                })
            })
            .collect())
    }

    async fn set_markers(&self, account: Id, positions: &[(MarkerTimeline, Id)]) -> Result<Vec<MarkerRecord>> {
        let now = now_millis();
        for &(timeline, id) in positions {
            // Optimistic, as Mastodon's `lock_version`: read the version,
            // then write naming it; a write that landed in between makes
            // this one a conflict the client may retry. Two statements, no
            // transaction around them: a SQLite read transaction could not
            // turn into a write once another had committed.
            let read: Option<i64> =
                sqlx::query_scalar("SELECT version FROM markers WHERE account_id = $1 AND timeline = $2")
                    .bind(account.get())
                    .bind(timeline.as_str())
                    .fetch_optional(&self.db.pool)
                    .await
                    .map_err(unexpected)?;
            let written = match read {
                None => {
                    sqlx::query(
                        "INSERT INTO markers (account_id, timeline, last_read_id, version, updated_at)
                     VALUES ($1, $2, $3, 1, $4) ON CONFLICT (account_id, timeline) DO NOTHING",
                    )
                    .bind(account.get())
                    .bind(timeline.as_str())
                    .bind(id.get())
                    .bind(now)
                    .execute(&self.db.pool)
                    .await
                }
                Some(version) => {
                    sqlx::query(
                        "UPDATE markers SET last_read_id = $1, version = version + 1, updated_at = $2
                     WHERE account_id = $3 AND timeline = $4 AND version = $5",
                    )
                    .bind(id.get())
                    .bind(now)
                    .bind(account.get())
                    .bind(timeline.as_str())
                    .bind(version)
                    .execute(&self.db.pool)
                    .await
                }
            }
            .map_err(unexpected)?;
            if written.rows_affected() == 0 {
                return Err(NotificationsError::Conflict);
            }
        }
        let asked: Vec<MarkerTimeline> = positions.iter().map(|p| p.0).collect();
        self.markers(account, &asked).await
    }

    async fn clear(&self, account: Id) -> Result<()> {
        sqlx::query("DELETE FROM notifications WHERE account_id = $1")
            .bind(account.get())
            .execute(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(())
    }
}
