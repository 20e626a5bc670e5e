//! [`PostsApi`] over the component's own SQLite database.

use crate::*;
use async_trait::async_trait;
use model::time_fmt::now_millis;
use model::{Envelope, Event, Id, Page, PageDirection, Visibility};
use sqlx::Row;
use sqlx::any::AnyRow;
use store::id_list;

pub(crate) fn unexpected(e: impl Into<store::StoreError>) -> PostsError {
    match e.into() {
        store::StoreError::Unavailable(e) => PostsError::Unavailable(e.to_string()),
        other => PostsError::Unexpected(anyhow::Error::new(other)),
    }
}

pub(crate) fn post_row(r: &AnyRow) -> PostRecord {
    let vis: String = r.get("visibility");
    PostRecord {
        id: Id::from_i64(r.get("id")),
        author_id: Id::from_i64(r.get("author_id")),
        text: r.get("text"),
        spoiler_text: r.get("spoiler_text"),
        sensitive: r.get::<i64, _>("sensitive") != 0,
        visibility: Visibility::parse(&vis).expect("the CHECK constraint admits only known visibilities"),
        language: r.get("language"),
        in_reply_to_id: r.get::<Option<i64>, _>("in_reply_to_id").map(Id::from_i64),
        in_reply_to_account_id: r.get::<Option<i64>, _>("in_reply_to_account_id").map(Id::from_i64),
        app_name: r.get("app_name"),
        app_website: r.get("app_website"),
        replies_count: r.get::<i64, _>("replies_count").max(0) as u64,
        favourites_count: r.get::<i64, _>("favourites_count").max(0) as u64,
        conversation_id: r.get::<Option<i64>, _>("conversation_id").map(Id::from_i64),
        edited_at_ms: r.get::<Option<i64>, _>("edited_at"),
        reblog_of_id: r.get::<Option<i64>, _>("reblog_of_id").map(Id::from_i64),
        reblog_of_account_id: r.get::<Option<i64>, _>("reblog_of_account_id").map(Id::from_i64),
        reblogs_count: r.get::<i64, _>("reblogs_count").max(0) as u64,
        mentions: from_json(r.get("mentions")),
        tags: from_json(r.get("tags")),
        poll: r.get::<Option<String>, _>("poll").and_then(from_json),
        created_at_ms: r.get("created_at"),
    }
}

/// A JSON column this component wrote; unreadable (never expected) reads
/// as empty rather than failing the read of the whole post.
fn from_json<T: serde::de::DeserializeOwned + Default>(raw: String) -> T {
    serde_json::from_str(&raw).unwrap_or_else(|e| {
        tracing::error!(error = %e, "a post's stored mentions or tags are not valid JSON; read as none");
        T::default()
    })
}

/// Most boosters `booster_ids` answers: an edit of a post boosted more
/// often tells only the latest boosters.
const MAX_BOOSTERS: i64 = 10_000;

/// In the viewer's marks, a vote's kind is this plus its choice.
const VOTE_KIND: i64 = 100;

/// The columns [`post_ref`] reads, in its order (a macro, so queries can
/// be `concat!`ed into the `&'static str` they are).
macro_rules! ref_columns {
    () => {
        "id, author_id, in_reply_to_account_id, reblog_of_id, reblog_of_account_id, \
         CASE WHEN visibility = 'direct' THEN mentions END"
    };
}
pub(crate) use ref_columns;

pub(crate) fn post_ref(r: &AnyRow) -> PostRef {
    PostRef {
        post_id: Id::from_i64(r.get(0)),
        author_id: Id::from_i64(r.get(1)),
        in_reply_to_account_id: r.get::<Option<i64>, _>(2).map(Id::from_i64),
        reblog_of: r.get::<Option<i64>, _>(3).map(Id::from_i64),
        reblog_author: r.get::<Option<i64>, _>(4).map(Id::from_i64),
        direct_to: r
            .get::<Option<String>, _>(5)
            .map(|m| from_json::<Vec<Mentioned>>(m).into_iter().map(|m| m.id).collect()),
    }
}

/// Each account once, in the order written.
fn distinct_mentions(mut mentions: Vec<Mentioned>) -> Vec<Mentioned> {
    let mut seen = std::collections::HashSet::new();
    mentions.retain(|m| seen.insert(m.id));
    mentions
}

/// The hashtags of `text`, each once (by its normalized name), as first
/// written: (normalized, as written).
pub(crate) fn hashtags_of(text: &str) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::new();
    model::text::hashtags(text)
        .into_iter()
        .map(|h| (model::text::normalize_hashtag(h.name), h.name.to_string()))
        .filter(|(n, _)| seen.insert(n.clone()))
        .collect()
}

impl PostsService {
    /// Sets or takes back a mark, with the post's count and the event in
    /// the same transaction; repeating either changes nothing.
    async fn set_mark(&self, kind: Mark, account: Id, post: Id, on: bool) -> Result<PostRecord> {
        let table = mark_table(kind);
        let counted = kind == Mark::Favourite;
        let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
        // A write first, so the transaction holds the post's row (and on
        // SQLite the write lock) from its start: a transaction that read
        // first could not write once another had committed meanwhile.
        let row = sqlx::query(
            "UPDATE posts SET favourites_count = favourites_count WHERE id = $1 RETURNING author_id, visibility, reblog_of_id",
        )
        .bind(post.get())
        .fetch_optional(&mut *tx)
        .await
        .map_err(unexpected)?
        .ok_or(PostsError::NotFound)?;
        let author = Id::from_i64(row.get("author_id"));
        if kind == Mark::Pin && on {
            if row.get::<Option<i64>, _>("reblog_of_id").is_some() {
                return Err(PostsError::Validation("Boosts cannot be pinned".into()));
            }
            self.check_pin(&mut tx, account, post, author, row.get("visibility")).await?;
        }
        // `table` is one of this file's constants; values are bound.
        let changed = if on {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO {table} (id, account_id, post_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id, post_id) DO NOTHING"
            )))
            .bind(self.ids.next().get())
            .bind(account.get())
            .bind(post.get())
            .bind(now_millis())
            .execute(&mut *tx)
            .await
        } else {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE account_id = $1 AND post_id = $2")))
                .bind(account.get())
                .bind(post.get())
                .execute(&mut *tx)
                .await
        }
        .map_err(unexpected)?
        .rows_affected()
            > 0;
        if changed && counted {
            let count = if on {
                "UPDATE posts SET favourites_count = favourites_count + 1 WHERE id = $1"
            } else {
                "UPDATE posts SET favourites_count = CASE WHEN favourites_count > 0 THEN favourites_count - 1 ELSE 0 END WHERE id = $1"
            };
            sqlx::query(count).bind(post.get()).execute(&mut *tx).await.map_err(unexpected)?;
            let event = if on {
                Event::FavouriteCreated { account_id: account, post_id: post, author_id: author }
            } else {
                Event::FavouriteRemoved { account_id: account, post_id: post, author_id: author }
            };
            Outbox::enqueue(&mut tx, &Envelope::new(Self::COMPONENT, event)).await.map_err(unexpected)?;
        }
        tx.commit().await.map_err(unexpected)?;
        if changed {
            self.marks_changed(account).await;
        }
        let record = self.get(post).await?.ok_or(PostsError::NotFound)?;
        if changed && counted {
            self.outbox.wake();
            if let Some(records) = &self.records {
                records.changed(std::slice::from_ref(&record), &[]).await;
            }
        }
        Ok(record)
    }

    /// Whether `account` may pin a post by `author`: its own, not direct,
    /// and fewer than [`Mark::MAX_PINS`] already (counted under a lock on
    /// the account's pins, so two at once cannot both take the fifth place).
    async fn check_pin(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        account: Id,
        post: Id,
        author: Id,
        visibility: String,
    ) -> Result<()> {
        if author != account {
            return Err(PostsError::Validation("Someone else's post cannot be pinned".into()));
        }
        if visibility == "direct" {
            return Err(PostsError::Validation("Non-public toot cannot be pinned".into()));
        }
        // SQLite has one writer at a time already.
        sqlx::query(self.db.sql("SELECT $1", "SELECT pg_advisory_xact_lock($1)"))
            .bind(account.get())
            .execute(&mut **tx)
            .await
            .map_err(unexpected)?;
        // Pinning a pinned post again is no sixth pin.
        let (pinned, this): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN post_id = $2 THEN 1 ELSE 0 END), 0) FROM pins WHERE account_id = $1",
        )
        .bind(account.get())
        .bind(post.get())
        .fetch_one(&mut **tx)
        .await
        .map_err(unexpected)?;
        if this == 0 && pinned as u64 >= Mark::MAX_PINS {
            return Err(PostsError::Validation("You have already pinned the maximum number of toots".into()));
        }
        Ok(())
    }

    /// Marks of `kind` where `column` is `value`, newest first.
    async fn mark_rows(&self, kind: Mark, column: &'static str, value: Id, page: &Page) -> Result<Vec<Marked>> {
        let source = match kind {
            Mark::Favourite => "id, account_id, post_id FROM favourites",
            Mark::Bookmark => "id, account_id, post_id FROM bookmarks",
            Mark::Pin => "id, account_id, post_id FROM pins",
        };
        self.marked_rows(source, column, value, page).await
    }

    /// Rows (id, account, post) of `source` (columns and table) where
    /// `column` is `value`, newest first, keyset-paged by id: the marks,
    /// and boosts as a post's marks.
    async fn marked_rows(
        &self,
        source: &'static str,
        column: &'static str,
        value: Id,
        page: &Page,
    ) -> Result<Vec<Marked>> {
        let order = page.sql_order();
        // `source`, `column` and `order` are constants of this file; values are bound.
        let sql = format!(
            "SELECT {source} WHERE {column} = $1
             AND ($2 IS NULL OR id < $2) AND ($3 IS NULL OR id > $3) ORDER BY id {order} LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value.get())
            .bind(page.max_id.map(Id::get))
            .bind(page.lower().map(Id::get))
            .bind(page.limit as i64)
            .fetch_all(&self.db.pool)
            .await
            .map_err(unexpected)?;
        let mut found: Vec<Marked> = rows
            .iter()
            .map(|r| Marked {
                id: Id::from_i64(r.get(0)),
                account_id: Id::from_i64(r.get(1)),
                post_id: Id::from_i64(r.get(2)),
            })
            .collect();
        found.sort_by_key(|m| std::cmp::Reverse(m.id));
        Ok(found)
    }

    /// What `viewer` did to `posts`, every kind in one statement (one round
    /// trip per page, on the path of every timeline read): a row per mark,
    /// its kind in the first column.
    async fn viewer_rows(&self, viewer: Id, posts: &[Id]) -> Result<Vec<(i64, Id)>> {
        let ids = self.db.sql("SELECT value FROM json_each($2)", "SELECT jsonb_array_elements_text($2::jsonb)::bigint");
        // The id list's unpacking is a constant; values are bound.
        let sql = format!(
            "SELECT 0, post_id FROM favourites WHERE account_id = $1 AND post_id IN ({ids})
             UNION ALL SELECT 1, post_id FROM bookmarks WHERE account_id = $1 AND post_id IN ({ids})
             UNION ALL SELECT 2, post_id FROM pins WHERE account_id = $1 AND post_id IN ({ids})
             UNION ALL SELECT 3, p.id FROM posts p JOIN conversation_mutes m
               ON m.account_id = $1 AND m.conversation_id = COALESCE(p.conversation_id, p.id)
               WHERE p.id IN ({ids})
             UNION ALL SELECT 4, reblog_of_id FROM posts WHERE author_id = $1 AND reblog_of_id IN ({ids})
             UNION ALL SELECT {VOTE_KIND} + choice, post_id FROM poll_votes WHERE account_id = $1 AND post_id IN ({ids})"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(viewer.get())
            .bind(id_list(posts))
            .fetch_all(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(rows.iter().map(|r| (r.get::<i64, _>(0), Id::from_i64(r.get(1)))).collect())
    }

    async fn by_idempotency_key(&self, author: Id, key: &str) -> Result<Option<PostRecord>> {
        let post_id: Option<i64> = sqlx::query_scalar(
            "SELECT post_id FROM idempotency_keys WHERE account_id = $1 AND key = $2 AND created_at > $3",
        )
        .bind(author.get())
        .bind(key)
        .bind(now_millis() - Self::IDEMPOTENCY_TTL_MS)
        .fetch_optional(&self.db.pool)
        .await
        .map_err(unexpected)?;
        match post_id {
            // The post may have been deleted since: the key then has nothing
            // to return, as Mastodon's would not.
            Some(id) => Ok(Some(self.get(Id::from_i64(id)).await?.ok_or(PostsError::NotFound)?)),
            None => Ok(None),
        }
    }
}

impl PostsService {
    /// `by_author`'s query, selecting `columns`.
    async fn by_author_rows(
        &self,
        columns: &'static str,
        author: Id,
        filter: AuthorFilter,
        page: &Page,
    ) -> Result<Vec<AnyRow>> {
        let order = page.sql_order();
        let sql = format!(
            "SELECT {columns} FROM posts WHERE author_id = $1 AND ($2 IS NULL OR id < $2) AND ($3 IS NULL OR id > $3)
             AND (visibility IN ('public', 'unlisted') OR ($5 AND visibility = 'private')
                  OR (visibility = 'direct' AND ($8 = author_id
                      OR EXISTS (SELECT 1 FROM post_mentions m WHERE m.post_id = posts.id AND m.account_id = $8))))
             AND (NOT $6 OR in_reply_to_id IS NULL OR in_reply_to_account_id = author_id)
             AND (NOT $7 OR reblog_of_id IS NULL)
             AND ($9 IS NULL OR EXISTS (SELECT 1 FROM post_tags t WHERE t.post_id = posts.id AND t.tag = $9))
             ORDER BY id {order} LIMIT $4"
        );
        // `columns` and `order` are constants of this file; values are bound.
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(author.get())
            .bind(page.max_id.map(Id::get))
            .bind(page.lower().map(Id::get))
            .bind(page.limit as i64)
            .bind(filter.include_private)
            .bind(filter.exclude_replies)
            .bind(filter.exclude_reblogs)
            .bind(filter.direct_for.map(Id::get))
            .bind(filter.tagged.clone())
            .fetch_all(self.db.reader())
            .await
            .map_err(unexpected)
    }

    /// After a commit: what it changed in cached records. `created` is
    /// stored as read after the commit, `deleted` posts become tombstones,
    /// and `touched` posts (a parent's `replies_count`, a boosted post's
    /// `reblogs_count`) and `authors`' counters are re-read from the
    /// database, so the stored values are the committed ones.
    async fn refresh_records(&self, created: Option<&PostRecord>, deleted: &[Id], touched: &[Id], authors: &[Id]) {
        let Some(records) = &self.records else { return };
        for &id in deleted {
            records.deleted(id).await;
        }
        match tokio::try_join!(self.get_many(touched), self.author_stats(authors)) {
            Ok((mut posts, stats)) => {
                posts.extend(created.cloned());
                records.changed(&posts, &stats).await
            }
            // The cache keeps the old values until their TTL; say so.
            Err(e) => {
                tracing::error!(?touched, error = %e, "cannot re-read changed posts for the record cache; readers may see old counters until they expire")
            }
        }
    }

    /// After a commit that changed what `viewer` marked or boosted.
    pub(crate) async fn marks_changed(&self, viewer: Id) {
        if let Some(records) = &self.records {
            records.marks_changed(viewer, self.ids.next()).await;
        }
    }

    /// The post `post` shows: its original if it is a boost.
    async fn original_of(&self, post: Id) -> Result<Id> {
        let row: Option<Option<i64>> = sqlx::query_scalar("SELECT reblog_of_id FROM posts WHERE id = $1")
            .bind(post.get())
            .fetch_optional(&self.db.pool)
            .await
            .map_err(unexpected)?;
        match row {
            None => Err(PostsError::NotFound),
            Some(original) => Ok(original.map_or(post, Id::from_i64)),
        }
    }

    /// `account`'s boost of `original`, if any.
    async fn boost_by(&self, account: Id, original: Id) -> Result<Option<PostRecord>> {
        let row = sqlx::query("SELECT * FROM posts WHERE reblog_of_id = $1 AND author_id = $2")
            .bind(original.get())
            .bind(account.get())
            .fetch_optional(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(row.as_ref().map(post_row))
    }
}

fn mark_table(kind: Mark) -> &'static str {
    match kind {
        Mark::Favourite => "favourites",
        Mark::Bookmark => "bookmarks",
        Mark::Pin => "pins",
    }
}

pub(crate) fn newest_first(mut posts: Vec<PostRecord>) -> Vec<PostRecord> {
    posts.sort_by_key(|p| std::cmp::Reverse(p.id));
    posts
}

#[async_trait]
impl PostsApi for PostsService {
    async fn create(&self, new: NewPost) -> Result<PostRecord> {
        if let Some(key) = &new.idempotency_key
            && let Some(existing) = self.by_idempotency_key(new.author_id, key).await?
        {
            return Ok(existing);
        }
        let parent = match new.in_reply_to_id {
            Some(pid) => Some(self.get(pid).await?.ok_or(PostsError::NotFound)?),
            None => None,
        };
        let id = self.ids.next();
        let now = now_millis();
        let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
        if let Some(key) = &new.idempotency_key {
            sqlx::query("DELETE FROM idempotency_keys WHERE account_id = $1 AND key = $2 AND created_at <= $3")
                .bind(new.author_id.get())
                .bind(key)
                .bind(now - Self::IDEMPOTENCY_TTL_MS)
                .execute(&mut *tx)
                .await
                .map_err(unexpected)?;
            let claimed = sqlx::query("INSERT INTO idempotency_keys (account_id, key, post_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                .bind(new.author_id.get())
                .bind(key)
                .bind(id.get())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(unexpected)?
                .rows_affected();
            if claimed == 0 {
                // A concurrent request with the same key won the race.
                drop(tx);
                return self.by_idempotency_key(new.author_id, key).await?.ok_or(PostsError::NotFound);
            }
        }
        let mentions = distinct_mentions(new.mentions.clone());
        let tags = hashtags_of(new.text.as_str());
        sqlx::query(
            "INSERT INTO posts (id, author_id, text, spoiler_text, sensitive, visibility, language,
                                in_reply_to_id, in_reply_to_account_id, app_name, app_website, created_at,
                                conversation_id, mentions, tags)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(id.get())
        .bind(new.author_id.get())
        .bind(new.text.as_str())
        .bind(&new.spoiler_text)
        .bind(new.sensitive as i64)
        .bind(new.visibility.as_str())
        .bind(&new.language)
        .bind(parent.as_ref().map(|p| p.id.get()))
        .bind(parent.as_ref().map(|p| p.author_id.get()))
        .bind(&new.app_name)
        .bind(&new.app_website)
        .bind(now)
        // A reply joins its parent's conversation; a new thread starts one.
        .bind(parent.as_ref().map_or(id, |p| p.conversation_id.unwrap_or(p.id)).get())
        .bind(serde_json::to_string(&mentions).expect("mentions serialize"))
        .bind(serde_json::to_string(&tags.iter().map(|t| &t.1).collect::<Vec<_>>()).expect("tags serialize"))
        .execute(&mut *tx)
        .await
        .map_err(unexpected)?;
        self.index_text(&mut tx, id, new.author_id, new.visibility, &mentions, &tags, now).await?;
        if let Some(poll) = &new.poll {
            self.store_poll(&mut tx, id, Some(&poll.record(now)?)).await?;
        }
        if let Some(p) = &parent {
            sqlx::query("UPDATE posts SET replies_count = replies_count + 1 WHERE id = $1")
                .bind(p.id.get())
                .execute(&mut *tx)
                .await
                .map_err(unexpected)?;
        }
        sqlx::query(
            "INSERT INTO author_stats (author_id, statuses_count, last_status_at) VALUES ($1, 1, $2)
             ON CONFLICT (author_id) DO UPDATE SET statuses_count = author_stats.statuses_count + 1, last_status_at = excluded.last_status_at",
        )
        .bind(new.author_id.get())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unexpected)?;
        let event = Event::PostCreated {
            post_id: id,
            author_id: new.author_id,
            visibility: new.visibility,
            in_reply_to_account_id: parent.as_ref().map(|p| p.author_id),
            mentions: mentions.iter().map(|m| m.id).collect(),
            tags: tags.into_iter().map(|t| t.0).collect(),
        };
        Outbox::enqueue(&mut tx, &Envelope::new(Self::COMPONENT, event)).await.map_err(unexpected)?;
        tx.commit().await.map_err(unexpected)?;
        self.outbox.wake();
        let post = self
            .get(id)
            .await?
            .ok_or_else(|| PostsError::Unexpected(anyhow::anyhow!("post {id} vanished after commit")))?;
        let parent: Vec<Id> = post.in_reply_to_id.into_iter().collect();
        self.refresh_records(Some(&post), &[], &parent, &[post.author_id]).await;
        Ok(post)
    }

    async fn get(&self, id: Id) -> Result<Option<PostRecord>> {
        let row = sqlx::query("SELECT * FROM posts WHERE id = $1")
            .bind(id.get())
            .fetch_optional(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(row.as_ref().map(post_row))
    }

    async fn get_many(&self, ids: &[Id]) -> Result<Vec<PostRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(self.db.sql(
            "SELECT * FROM posts WHERE id IN (SELECT value FROM json_each($1)) ORDER BY id DESC",
            "SELECT * FROM posts WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint) ORDER BY id DESC",
        ))
        .bind(id_list(ids))
        .fetch_all(&self.db.pool)
        .await
        .map_err(unexpected)?;
        Ok(rows.iter().map(post_row).collect())
    }

    async fn mark(&self, kind: Mark, account: Id, post: Id, on: bool) -> Result<PostRecord> {
        self.set_mark(kind, account, post, on).await
    }

    async fn marks(&self, kind: Mark, account: Id, page: &Page) -> Result<Vec<Marked>> {
        self.mark_rows(kind, "account_id", account, page).await
    }

    async fn marked_by(&self, kind: Mark, post: Id, page: &Page) -> Result<Vec<Marked>> {
        self.mark_rows(kind, "post_id", post, page).await
    }

    async fn viewer_marks(&self, viewer: Id, posts: &[Id]) -> Result<ViewerMarks> {
        if posts.is_empty() {
            return Ok(ViewerMarks::default());
        }
        let mut marks = ViewerMarks::default();
        for (kind, post) in self.viewer_rows(viewer, posts).await? {
            match kind {
                0 => marks.favourited.push(post),
                1 => marks.bookmarked.push(post),
                2 => marks.pinned.push(post),
                3 => marks.muted.push(post),
                4 => marks.reblogged.push(post),
                k => marks.votes.push((post, (k - VOTE_KIND) as u32)),
            }
        }
        Ok(marks)
    }

    async fn mute_conversation(&self, account: Id, post: Id, on: bool) -> Result<PostRecord> {
        let record = self.get(post).await?.ok_or(PostsError::NotFound)?;
        let conversation = record.conversation_id.unwrap_or(record.id);
        let query = if on {
            sqlx::query(
                "INSERT INTO conversation_mutes (account_id, conversation_id, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (account_id, conversation_id) DO NOTHING",
            )
            .bind(account.get())
            .bind(conversation.get())
            .bind(now_millis())
        } else {
            sqlx::query("DELETE FROM conversation_mutes WHERE account_id = $1 AND conversation_id = $2")
                .bind(account.get())
                .bind(conversation.get())
        };
        query.execute(&self.db.pool).await.map_err(unexpected)?;
        self.marks_changed(account).await;
        Ok(record)
    }

    async fn edit(&self, id: Id, requester: Id, edit: PostEdit) -> Result<PostRecord> {
        let now = now_millis();
        let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
        // The update comes first (it takes the row, and SQLite's write
        // lock); the version it replaces is what it returns.
        let before = sqlx::query(
            "UPDATE posts SET edited_at = $1 WHERE id = $2 AND author_id = $3 AND reblog_of_id IS NULL
             RETURNING text, spoiler_text, sensitive, created_at, edited_at, poll",
        )
        .bind(now)
        .bind(id.get())
        .bind(requester.get())
        .fetch_optional(&mut *tx)
        .await
        .map_err(unexpected)?
        .ok_or(PostsError::NotFound)?;
        let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM post_versions WHERE post_id = $1")
            .bind(id.get())
            .fetch_one(&mut *tx)
            .await
            .map_err(unexpected)?;
        let versions: Vec<(String, String, i64, i64)> = if kept == 0 {
            // First edit: the original goes into the history too.
            vec![(
                before.get("text"),
                before.get("spoiler_text"),
                before.get::<i64, _>("sensitive"),
                before.get::<i64, _>("created_at"),
            )]
        } else {
            Vec::new()
        };
        let new_version = (edit.text.as_str().to_string(), edit.spoiler_text.clone(), edit.sensitive as i64, now);
        for (text, spoiler, sensitive, at) in versions.into_iter().chain(std::iter::once(new_version)) {
            sqlx::query(
                "INSERT INTO post_versions (id, post_id, text, spoiler_text, sensitive, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(self.ids.next().get())
            .bind(id.get())
            .bind(text)
            .bind(spoiler)
            .bind(sensitive)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(unexpected)?;
        }
        let mentions = distinct_mentions(edit.mentions.clone());
        let tags = hashtags_of(edit.text.as_str());
        let row = sqlx::query(
            "UPDATE posts SET text = $1, spoiler_text = $2, sensitive = $3, language = $4, mentions = $5, tags = $6
             WHERE id = $7 RETURNING visibility, created_at",
        )
        .bind(edit.text.as_str())
        .bind(&edit.spoiler_text)
        .bind(edit.sensitive as i64)
        .bind(&edit.language)
        .bind(serde_json::to_string(&mentions).expect("mentions serialize"))
        .bind(serde_json::to_string(&tags.iter().map(|t| &t.1).collect::<Vec<_>>()).expect("tags serialize"))
        .bind(id.get())
        .fetch_one(&mut *tx)
        .await
        .map_err(unexpected)?;
        // Mentions and tags are parsed again: the old rows go.
        for table in ["post_mentions", "post_tags"] {
            // Constant table names; the value is bound.
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE post_id = $1")))
                .bind(id.get())
                .execute(&mut *tx)
                .await
                .map_err(unexpected)?;
        }
        let visibility = Visibility::parse(&row.get::<String, _>("visibility")).unwrap_or(Visibility::Private);
        self.index_text(&mut tx, id, requester, visibility, &mentions, &tags, row.get("created_at")).await?;
        let poll_before = before.get::<Option<String>, _>("poll").and_then(from_json);
        let unvoted = self.edit_poll(&mut tx, id, poll_before, edit.poll.as_ref(), now).await?;
        let event = Event::PostUpdated { post_id: id, author_id: requester };
        Outbox::enqueue(&mut tx, &Envelope::new(Self::COMPONENT, event)).await.map_err(unexpected)?;
        tx.commit().await.map_err(unexpected)?;
        self.outbox.wake();
        for voter in unvoted {
            self.marks_changed(voter).await;
        }
        let record = self.get(id).await?.ok_or(PostsError::NotFound)?;
        if let Some(records) = &self.records {
            records.changed(std::slice::from_ref(&record), &[]).await;
        }
        Ok(record)
    }

    async fn history(&self, id: Id) -> Result<Vec<PostVersion>> {
        let rows = sqlx::query(
            "SELECT text, spoiler_text, sensitive, created_at FROM post_versions WHERE post_id = $1 ORDER BY id",
        )
        .bind(id.get())
        .fetch_all(&self.db.pool)
        .await
        .map_err(unexpected)?;
        let version = |r: &AnyRow| PostVersion {
            text: r.get("text"),
            spoiler_text: r.get("spoiler_text"),
            sensitive: r.get::<i64, _>("sensitive") != 0,
            created_at_ms: r.get("created_at"),
        };
        if !rows.is_empty() {
            return Ok(rows.iter().map(version).collect());
        }
        // Never edited: its one version is the post.
        let post = self.get(id).await?.ok_or(PostsError::NotFound)?;
        Ok(vec![PostVersion {
            text: post.text,
            spoiler_text: post.spoiler_text,
            sensitive: post.sensitive,
            created_at_ms: post.created_at_ms,
        }])
    }

    async fn delete(&self, id: Id, requester: Id) -> Result<PostRecord> {
        let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
        let row = sqlx::query("DELETE FROM posts WHERE id = $1 AND author_id = $2 RETURNING *")
            .bind(id.get())
            .bind(requester.get())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unexpected)?;
        let post = row.as_ref().map(post_row).ok_or(PostsError::NotFound)?;
        for table in [
            "favourites",
            "bookmarks",
            "pins",
            "post_versions",
            "post_mentions",
            "post_tags",
            "poll_votes",
            "polls_open",
        ] {
            // Constant table names of this file; the value is bound.
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE post_id = $1")))
                .bind(post.id.get())
                .execute(&mut *tx)
                .await
                .map_err(unexpected)?;
        }
        // A boost gone, its original counts one fewer; an original gone,
        // its boosts go with it, each a deletion of its own.
        let boosts: Vec<(Id, Id)> = if post.reblog_of_id.is_some() {
            Vec::new()
        } else {
            sqlx::query_as::<_, (i64, i64)>("DELETE FROM posts WHERE reblog_of_id = $1 RETURNING id, author_id")
                .bind(post.id.get())
                .fetch_all(&mut *tx)
                .await
                .map_err(unexpected)?
                .into_iter()
                .map(|(b, a)| (Id::from_i64(b), Id::from_i64(a)))
                .collect()
        };
        let (counter, parent) = match (post.reblog_of_id, post.in_reply_to_id) {
            (Some(original), _) => ("reblogs_count", Some(original)),
            (None, Some(parent)) => ("replies_count", Some(parent)),
            (None, None) => ("replies_count", None),
        };
        if let Some(parent) = parent {
            // `counter` is one of the two constants above; the id is bound.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE posts SET {counter} = CASE WHEN {counter} > 0 THEN {counter} - 1 ELSE 0 END WHERE id = $1"
            )))
            .bind(parent.get())
            .execute(&mut *tx)
            .await
            .map_err(unexpected)?;
        }
        let gone = std::iter::once((post.id, post.author_id)).chain(boosts.iter().copied());
        let tags: Vec<String> = post.tags.iter().map(|t| model::text::normalize_hashtag(t)).collect();
        for (post_id, author_id) in gone.clone() {
            sqlx::query("UPDATE author_stats SET statuses_count = CASE WHEN statuses_count > 0 THEN statuses_count - 1 ELSE 0 END WHERE author_id = $1")
                .bind(author_id.get())
                .execute(&mut *tx)
                .await
                .map_err(unexpected)?;
            // Boosts carry no tags of their own.
            let tags = if post_id == post.id { tags.clone() } else { Vec::new() };
            let event = Event::PostDeleted { post_id, author_id, tags };
            Outbox::enqueue(&mut tx, &Envelope::new(Self::COMPONENT, event)).await.map_err(unexpected)?;
        }
        tx.commit().await.map_err(unexpected)?;
        self.outbox.wake();
        if post.reblog_of_id.is_some() {
            // A boost taken back: the booster's `reblogged` changed.
            self.marks_changed(post.author_id).await;
        }
        let (deleted, authors): (Vec<Id>, Vec<Id>) = gone.unzip();
        self.refresh_records(None, &deleted, &parent.into_iter().collect::<Vec<_>>(), &authors).await;
        Ok(post)
    }

    async fn reblog(&self, account: Id, post: Id, visibility: Visibility) -> Result<PostRecord> {
        let original = self.original_of(post).await?;
        let id = self.ids.next();
        let now = now_millis();
        let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
        // A write first: it takes the original's row (and SQLite's write
        // lock), so a deletion cannot slip between this check and the
        // insert and leave a boost of nothing.
        let row = sqlx::query(
            "UPDATE posts SET reblogs_count = reblogs_count WHERE id = $1 AND reblog_of_id IS NULL
             RETURNING author_id, visibility",
        )
        .bind(original.get())
        .fetch_optional(&mut *tx)
        .await
        .map_err(unexpected)?
        .ok_or(PostsError::NotFound)?;
        let original_author = Id::from_i64(row.get("author_id"));
        let original_visibility = Visibility::parse(&row.get::<String, _>("visibility")).unwrap_or(Visibility::Private);
        // As Mastodon: a private post is boosted only by its author, and
        // the boost stays private.
        if visibility == Visibility::Direct {
            return Err(PostsError::Validation("A boost cannot be direct".into()));
        }
        let visibility = match original_visibility {
            Visibility::Public | Visibility::Unlisted => visibility,
            Visibility::Direct => return Err(PostsError::Validation("Direct posts cannot be boosted".into())),
            Visibility::Private if original_author == account => original_visibility,
            Visibility::Private => return Err(PostsError::Validation("Private posts cannot be boosted".into())),
        };
        let inserted = sqlx::query(
            "INSERT INTO posts (id, author_id, text, visibility, reblog_of_id, reblog_of_account_id, conversation_id, created_at)
             VALUES ($1, $2, '', $3, $4, $6, $1, $5)
             ON CONFLICT (reblog_of_id, author_id) WHERE reblog_of_id IS NOT NULL DO NOTHING",
        )
        .bind(id.get())
        .bind(account.get())
        .bind(visibility.as_str())
        .bind(original.get())
        .bind(now)
        .bind(original_author.get())
        .execute(&mut *tx)
        .await
        .map_err(unexpected)?
        .rows_affected()
            > 0;
        if inserted {
            sqlx::query("UPDATE posts SET reblogs_count = reblogs_count + 1 WHERE id = $1")
                .bind(original.get())
                .execute(&mut *tx)
                .await
                .map_err(unexpected)?;
            sqlx::query(
                "INSERT INTO author_stats (author_id, statuses_count, last_status_at) VALUES ($1, 1, $2)
                 ON CONFLICT (author_id) DO UPDATE SET statuses_count = author_stats.statuses_count + 1, last_status_at = excluded.last_status_at",
            )
            .bind(account.get())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(unexpected)?;
            let event = Event::ReblogCreated {
                post_id: id,
                author_id: account,
                reblog_of_id: original,
                original_author_id: original_author,
                visibility,
            };
            Outbox::enqueue(&mut tx, &Envelope::new(Self::COMPONENT, event)).await.map_err(unexpected)?;
        }
        tx.commit().await.map_err(unexpected)?;
        let boost = self.boost_by(account, original).await?.ok_or(PostsError::NotFound)?;
        if inserted {
            self.outbox.wake();
            self.marks_changed(account).await;
            self.refresh_records(Some(&boost), &[], &[original], &[account]).await;
        }
        Ok(boost)
    }

    async fn unreblog(&self, account: Id, post: Id) -> Result<PostRecord> {
        let original = self.original_of(post).await?;
        if let Some(boost) = self.boost_by(account, original).await? {
            match self.delete(boost.id, account).await {
                // Taken back meanwhile by a concurrent request: the same end.
                Ok(_) | Err(PostsError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        self.get(original).await?.ok_or(PostsError::NotFound)
    }

    async fn reblogged_by(&self, post: Id, page: &Page) -> Result<Vec<Marked>> {
        self.marked_rows("id, author_id, reblog_of_id FROM posts", "reblog_of_id", post, page).await
    }

    async fn by_author(&self, author: Id, filter: AuthorFilter, page: &Page) -> Result<Vec<PostRecord>> {
        let rows = self.by_author_rows("*", author, filter, page).await?;
        Ok(newest_first(rows.iter().map(post_row).collect()))
    }

    async fn by_author_ids(&self, author: Id, filter: AuthorFilter, page: &Page) -> Result<Vec<Id>> {
        let rows = self.by_author_rows("id", author, filter, page).await?;
        let mut ids: Vec<Id> = rows.iter().map(|r| Id::from_i64(r.get(0))).collect();
        ids.sort_by_key(|&id| std::cmp::Reverse(id));
        Ok(ids)
    }

    async fn public(&self, page: &Page) -> Result<Vec<PostRecord>> {
        let sql = match page.direction() {
            PageDirection::Descending => {
                "SELECT * FROM posts WHERE visibility = 'public' AND reblog_of_id IS NULL
                 AND ($1 IS NULL OR id < $1) AND ($2 IS NULL OR id > $2) ORDER BY id DESC LIMIT $3"
            }
            PageDirection::AscendingFromMin => {
                "SELECT * FROM posts WHERE visibility = 'public' AND reblog_of_id IS NULL
                 AND ($1 IS NULL OR id < $1) AND ($2 IS NULL OR id > $2) ORDER BY id ASC LIMIT $3"
            }
        };
        let rows = sqlx::query(sql)
            .bind(page.max_id.map(Id::get))
            .bind(page.lower().map(Id::get))
            .bind(page.limit as i64)
            .fetch_all(self.db.reader())
            .await
            .map_err(unexpected)?;
        Ok(newest_first(rows.iter().map(post_row).collect()))
    }

    async fn context(&self, id: Id) -> Result<(Vec<PostRecord>, Vec<PostRecord>)> {
        let ancestors = sqlx::query(
            "WITH RECURSIVE up(pid, depth) AS (
                 SELECT in_reply_to_id, 1 FROM posts WHERE id = $1
                 UNION ALL
                 SELECT p.in_reply_to_id, up.depth + 1 FROM posts p JOIN up ON p.id = up.pid
                 WHERE up.depth < 4096)
             SELECT posts.* FROM posts JOIN up ON posts.id = up.pid ORDER BY posts.id ASC",
        )
        .bind(id.get())
        .fetch_all(self.db.reader())
        .await
        .map_err(unexpected)?;
        let descendants = sqlx::query(
            "WITH RECURSIVE down(id, depth) AS (
                 SELECT id, 1 FROM posts WHERE in_reply_to_id = $1
                 UNION ALL
                 SELECT p.id, down.depth + 1 FROM posts p JOIN down ON p.in_reply_to_id = down.id
                 WHERE down.depth < 4096)
             SELECT posts.* FROM posts JOIN down ON posts.id = down.id ORDER BY posts.id ASC LIMIT 4096",
        )
        .bind(id.get())
        .fetch_all(self.db.reader())
        .await
        .map_err(unexpected)?;
        Ok((ancestors.iter().map(post_row).collect(), descendants.iter().map(post_row).collect()))
    }

    async fn recent_by_authors(&self, authors: &[Id], max_id: Option<Id>, limit: usize) -> Result<Vec<PostRef>> {
        if authors.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(self.db.sql(
            concat!(
                "SELECT ",
                ref_columns!(),
                " FROM posts
             WHERE author_id IN (SELECT value FROM json_each($1)) AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
            ),
            concat!(
                "SELECT ",
                ref_columns!(),
                " FROM posts
             WHERE author_id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint) AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
            ),
        ))
        .bind(id_list(authors))
        .bind(max_id.map(Id::get))
        .bind(limit as i64)
        .fetch_all(&self.db.pool)
        .await
        .map_err(unexpected)?;
        Ok(rows.iter().map(post_ref).collect())
    }

    async fn earliest_by_authors(&self, authors: &[Id], min_id: Id, limit: usize) -> Result<Vec<PostRef>> {
        if authors.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(self.db.sql(
            concat!(
                "SELECT ",
                ref_columns!(),
                " FROM posts
             WHERE author_id IN (SELECT value FROM json_each($1)) AND id > $2
             ORDER BY id ASC LIMIT $3"
            ),
            concat!(
                "SELECT ",
                ref_columns!(),
                " FROM posts
             WHERE author_id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint) AND id > $2
             ORDER BY id ASC LIMIT $3"
            ),
        ))
        .bind(id_list(authors))
        .bind(min_id.get())
        .bind(limit as i64)
        .fetch_all(&self.db.pool)
        .await
        .map_err(unexpected)?;
        Ok(rows.iter().map(post_ref).collect())
    }

    async fn replies_to(&self, account: Id, authors: &[Id], limit: usize) -> Result<Vec<PostRef>> {
        if authors.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(self.db.sql(
            concat!(
                "SELECT ",
                ref_columns!(),
                " FROM posts
             WHERE in_reply_to_account_id = $1 AND author_id IN (SELECT value FROM json_each($2))
             ORDER BY id DESC LIMIT $3"
            ),
            concat!(
                "SELECT ",
                ref_columns!(),
                " FROM posts
             WHERE in_reply_to_account_id = $1 AND author_id IN (SELECT jsonb_array_elements_text($2::jsonb)::bigint)
             ORDER BY id DESC LIMIT $3"
            ),
        ))
        .bind(account.get())
        .bind(id_list(authors))
        .bind(limit as i64)
        .fetch_all(&self.db.pool)
        .await
        .map_err(unexpected)?;
        Ok(rows.iter().map(post_ref).collect())
    }

    async fn tag_timeline(&self, query: &TagQuery, page: &Page) -> Result<Vec<PostRecord>> {
        self.tag_timeline_rows(query, page).await
    }

    async fn tag(&self, name: &str, viewer: Option<Id>) -> Result<TagInfo> {
        self.tag_info(name, viewer).await
    }

    async fn follow_tag(&self, account: Id, display: &str, on: bool) -> Result<TagInfo> {
        self.set_tag_follow(account, display, on).await
    }

    async fn followed_tags(&self, account: Id, page: &Page) -> Result<Vec<(Id, TagInfo)>> {
        self.followed_tag_rows(account, page).await
    }

    async fn tag_followers(&self, tags: &[String]) -> Result<Vec<Id>> {
        self.tag_follower_ids(tags).await
    }

    async fn recent_tagged_for(&self, account: Id, max_id: Option<Id>, limit: usize) -> Result<Vec<PostRef>> {
        self.tagged_for(account, max_id, false, limit).await
    }

    async fn earliest_tagged_for(&self, account: Id, min_id: Id, limit: usize) -> Result<Vec<PostRef>> {
        self.tagged_for(account, Some(min_id), true, limit).await
    }

    async fn vote(&self, account: Id, poll: Id, choices: &[u32]) -> Result<PostRecord> {
        self.cast_vote(account, poll, choices).await
    }

    async fn poll_voters(&self, poll: Id) -> Result<Vec<Id>> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT account_id FROM poll_votes WHERE post_id = $1")
            .bind(poll.get())
            .fetch_all(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(ids.into_iter().map(Id::from_i64).collect())
    }

    async fn booster_ids(&self, post: Id) -> Result<Vec<Id>> {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT author_id FROM posts WHERE reblog_of_id = $1 ORDER BY id DESC LIMIT $2")
                .bind(post.get())
                .bind(MAX_BOOSTERS)
                .fetch_all(&self.db.pool)
                .await
                .map_err(unexpected)?;
        Ok(ids.into_iter().map(Id::from_i64).collect())
    }

    async fn conversations(&self, account: Id, page: &Page) -> Result<Vec<ConversationRow>> {
        self.conversation_list(account, page).await
    }

    async fn conversation_seen(&self, account: Id, conversation: Id, remove: bool) -> Result<ConversationRow> {
        self.mark_conversation(account, conversation, remove).await
    }

    async fn author_stats(&self, authors: &[Id]) -> Result<Vec<AuthorStats>> {
        let rows = sqlx::query(self.db.sql(
            "SELECT author_id, statuses_count, last_status_at FROM author_stats
             WHERE author_id IN (SELECT value FROM json_each($1))",
            "SELECT author_id, statuses_count, last_status_at FROM author_stats
             WHERE author_id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint)",
        ))
        .bind(id_list(authors))
        .fetch_all(&self.db.pool)
        .await
        .map_err(unexpected)?;
        Ok(rows
            .iter()
            .map(|r| AuthorStats {
                author_id: Id::from_i64(r.get(0)),
                statuses_count: r.get::<i64, _>(1).max(0) as u64,
                last_status_at_ms: r.get(2),
            })
            .collect())
    }

    async fn post_count(&self) -> Result<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM posts").fetch_one(self.db.reader()).await.map_err(unexpected)?;
        Ok(n as u64)
    }
}
