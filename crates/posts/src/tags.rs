//! What a post's text names, kept for the queries that start from it:
//! the accounts a post mentions, its hashtags (tag timelines, followed
//! tags, a tag's recent use), and the direct conversations an account
//! takes part in.

use crate::service::{post_ref, ref_columns, unexpected};
use crate::*;
use model::time_fmt::now_millis;
use model::{Envelope, Event, Id, Page, Visibility};
use sqlx::Row;
use std::collections::HashMap;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// A JSON list of strings, as the list-unpacking SQL reads it.
fn text_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("a list of strings serializes")
}

impl PostsService {
    /// Writes the rows for what post `id`'s text names: its mentions and
    /// hashtags (`tags`: normalized, as written), and each tag's first
    /// spelling. In the transaction that writes the post.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn index_text(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: Id,
        author: Id,
        visibility: Visibility,
        mentions: &[Mentioned],
        tags: &[(String, String)],
        created_at: i64,
    ) -> Result<()> {
        for m in mentions {
            sqlx::query("INSERT INTO post_mentions (post_id, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id.get())
                .bind(m.id.get())
                .execute(&mut **tx)
                .await
                .map_err(unexpected)?;
        }
        for (name, display) in tags {
            sqlx::query(
                "INSERT INTO post_tags (tag, post_id, author_id, public, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT DO NOTHING",
            )
            .bind(name)
            .bind(id.get())
            .bind(author.get())
            .bind(i64::from(visibility == Visibility::Public))
            .bind(created_at)
            .execute(&mut **tx)
            .await
            .map_err(unexpected)?;
            Self::remember_tag(tx, name, display).await?;
        }
        Ok(())
    }

    /// Keeps the first spelling of hashtag `name`.
    async fn remember_tag(tx: &mut sqlx::Transaction<'_, sqlx::Any>, name: &str, display: &str) -> Result<()> {
        sqlx::query("INSERT INTO tags (name, display, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(display)
            .bind(now_millis())
            .execute(&mut **tx)
            .await
            .map_err(unexpected)?;
        Ok(())
    }

    /// The SQL that unpacks a JSON list bound at `$n` into rows.
    fn unpack(&self, n: u8) -> String {
        match self.db.dialect {
            store::Dialect::Sqlite => format!("SELECT value FROM json_each(${n})"),
            store::Dialect::Postgres => format!("SELECT jsonb_array_elements_text(${n}::jsonb)"),
        }
    }

    pub(crate) async fn tag_timeline_rows(&self, query: &TagQuery, page: &Page) -> Result<Vec<PostRecord>> {
        if query.any.is_empty() {
            return Ok(Vec::new());
        }
        let order = page.sql_order();
        let (any, all, none) = (self.unpack(1), self.unpack(3), self.unpack(4));
        // Built from this file's constants; values are bound.
        let sql = format!(
            "SELECT * FROM posts p WHERE p.id IN (SELECT post_id FROM post_tags WHERE public = 1 AND tag IN ({any}))
             AND ($2 = 0 OR (SELECT COUNT(*) FROM post_tags t WHERE t.post_id = p.id AND t.tag IN ({all})) = $2)
             AND NOT EXISTS (SELECT 1 FROM post_tags t WHERE t.post_id = p.id AND t.tag IN ({none}))
             AND ($5 IS NULL OR p.id < $5) AND ($6 IS NULL OR p.id > $6)
             ORDER BY p.id {order} LIMIT $7"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(text_list(&query.any))
            .bind(query.all.len() as i64)
            .bind(text_list(&query.all))
            .bind(text_list(&query.none))
            .bind(page.max_id.map(Id::get))
            .bind(page.lower().map(Id::get))
            .bind(page.limit as i64)
            .fetch_all(self.db.reader())
            .await
            .map_err(unexpected)?;
        Ok(crate::service::newest_first(rows.iter().map(crate::service::post_row).collect()))
    }

    /// Daily use of each of `tags` (normalized) over the last days, by
    /// public posts only (private use is nobody's business), today first.
    async fn histories(&self, tags: &[String]) -> Result<HashMap<String, Vec<(i64, u64, u64)>>> {
        let today = now_millis().div_euclid(DAY_MS);
        let first = today - (TagInfo::HISTORY_DAYS - 1);
        let list = self.unpack(1);
        // Built from this file's constants; values are bound.
        let sql = format!(
            "SELECT tag, created_at / {DAY_MS} AS day, COUNT(*), COUNT(DISTINCT author_id) FROM post_tags
             WHERE tag IN ({list}) AND public = 1 AND created_at >= $2 GROUP BY tag, created_at / {DAY_MS}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(text_list(tags))
            .bind(first * DAY_MS)
            .fetch_all(self.db.reader())
            .await
            .map_err(unexpected)?;
        let mut used: HashMap<(String, i64), (u64, u64)> = HashMap::new();
        for r in &rows {
            used.insert((r.get(0), r.get(1)), (r.get::<i64, _>(2) as u64, r.get::<i64, _>(3) as u64));
        }
        Ok(tags
            .iter()
            .map(|t| {
                let days = (first..=today)
                    .rev()
                    .map(|d| {
                        let (uses, accounts) = used.get(&(t.clone(), d)).copied().unwrap_or((0, 0));
                        (d * DAY_MS, uses, accounts)
                    })
                    .collect();
                (t.clone(), days)
            })
            .collect())
    }

    /// The first spellings of `tags` (normalized); a tag never used is absent.
    async fn displays(&self, tags: &[String]) -> Result<HashMap<String, String>> {
        let sql = format!("SELECT name, display FROM tags WHERE name IN ({})", self.unpack(1));
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(text_list(tags))
            .fetch_all(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub(crate) async fn tag_info(&self, asked: &str, viewer: Option<Id>) -> Result<TagInfo> {
        let name = model::text::normalize_hashtag(asked);
        let names = [name.clone()];
        let (displays, mut histories) = tokio::try_join!(self.displays(&names), self.histories(&names))?;
        let following = match viewer {
            Some(v) => sqlx::query("SELECT 1 FROM tag_follows WHERE account_id = $1 AND tag = $2")
                .bind(v.get())
                .bind(&name)
                .fetch_optional(&self.db.pool)
                .await
                .map_err(unexpected)?
                .is_some(),
            None => false,
        };
        Ok(TagInfo {
            name: displays.get(&name).cloned().unwrap_or_else(|| asked.to_string()),
            history: histories.remove(&name).unwrap_or_default(),
            following,
        })
    }

    pub(crate) async fn set_tag_follow(&self, account: Id, display: &str, on: bool) -> Result<TagInfo> {
        let name = model::text::normalize_hashtag(display);
        let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
        let changed = if on {
            Self::remember_tag(&mut tx, &name, display).await?;
            sqlx::query(
                "INSERT INTO tag_follows (id, account_id, tag, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id, tag) DO NOTHING",
            )
            .bind(self.ids.next().get())
            .bind(account.get())
            .bind(&name)
            .bind(now_millis())
            .execute(&mut *tx)
            .await
        } else {
            sqlx::query("DELETE FROM tag_follows WHERE account_id = $1 AND tag = $2")
                .bind(account.get())
                .bind(&name)
                .execute(&mut *tx)
                .await
        }
        .map_err(unexpected)?
        .rows_affected()
            > 0;
        if changed {
            let event = if on {
                Event::TagFollowed { account_id: account, tag: name }
            } else {
                Event::TagUnfollowed { account_id: account, tag: name }
            };
            Outbox::enqueue(&mut tx, &Envelope::new(Self::COMPONENT, event)).await.map_err(unexpected)?;
        }
        tx.commit().await.map_err(unexpected)?;
        if changed {
            self.outbox.wake();
        }
        self.tag_info(display, Some(account)).await
    }

    pub(crate) async fn followed_tag_rows(&self, account: Id, page: &Page) -> Result<Vec<(Id, TagInfo)>> {
        let order = page.sql_order();
        // `order` is a constant; values are bound.
        let sql = format!(
            "SELECT f.id, f.tag, COALESCE(t.display, f.tag) FROM tag_follows f LEFT JOIN tags t ON t.name = f.tag
             WHERE f.account_id = $1 AND ($2 IS NULL OR f.id < $2) AND ($3 IS NULL OR f.id > $3)
             ORDER BY f.id {order} LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account.get())
            .bind(page.max_id.map(Id::get))
            .bind(page.lower().map(Id::get))
            .bind(page.limit as i64)
            .fetch_all(&self.db.pool)
            .await
            .map_err(unexpected)?;
        let names: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
        let mut histories = self.histories(&names).await?;
        let mut out: Vec<(Id, TagInfo)> = rows
            .iter()
            .map(|r| {
                let name: String = r.get(1);
                let info =
                    TagInfo { name: r.get(2), history: histories.remove(&name).unwrap_or_default(), following: true };
                (Id::from_i64(r.get(0)), info)
            })
            .collect();
        out.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
        Ok(out)
    }

    pub(crate) async fn tag_follower_ids(&self, tags: &[String]) -> Result<Vec<Id>> {
        if tags.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT DISTINCT account_id FROM tag_follows WHERE tag IN ({})", self.unpack(1));
        let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(text_list(tags))
            .fetch_all(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(ids.into_iter().map(Id::from_i64).collect())
    }

    /// Public posts with a tag `account` follows, past `bound` in the
    /// direction `ascending` says.
    pub(crate) async fn tagged_for(
        &self,
        account: Id,
        bound: Option<Id>,
        ascending: bool,
        limit: usize,
    ) -> Result<Vec<PostRef>> {
        let (cmp, order) = if ascending { (">", "ASC") } else { ("<", "DESC") };
        // `cmp`, `order` and the columns are constants; values are bound.
        let sql = format!(
            "SELECT {} FROM posts WHERE id IN (
                 SELECT t.post_id FROM post_tags t JOIN tag_follows f ON f.tag = t.tag
                 WHERE f.account_id = $1 AND t.public = 1 AND ($2 IS NULL OR t.post_id {cmp} $2))
             ORDER BY id {order} LIMIT $3",
            ref_columns!()
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account.get())
            .bind(bound.map(Id::get))
            .bind(limit as i64)
            .fetch_all(&self.db.pool)
            .await
            .map_err(unexpected)?;
        Ok(rows.iter().map(post_ref).collect())
    }

    /// `account`'s conversations (only `conversation` when given), newest
    /// first, paged by their newest post; removed ones too when `removed`.
    async fn conversation_rows(
        &self,
        account: Id,
        conversation: Option<Id>,
        removed: bool,
        page: &Page,
    ) -> Result<Vec<ConversationRow>> {
        let order = page.sql_order();
        // The direct posts the account wrote or is mentioned in, by thread.
        // `order` is a constant; values are bound.
        let sql = format!(
            "WITH mine AS (
                 SELECT id, conversation_id FROM posts WHERE author_id = $1 AND visibility = 'direct'
                 UNION
                 SELECT p.id, p.conversation_id FROM post_mentions m JOIN posts p ON p.id = m.post_id
                 WHERE m.account_id = $1 AND p.visibility = 'direct'
             ), latest AS (
                 SELECT COALESCE(conversation_id, id) AS conversation_id, MAX(id) AS last FROM mine
                 GROUP BY COALESCE(conversation_id, id)
             )
             SELECT l.conversation_id, l.last, COALESCE(s.read_up_to, 0),
                    (SELECT author_id FROM posts WHERE id = l.last)
             FROM latest l LEFT JOIN conversation_states s
                 ON s.account_id = $1 AND s.conversation_id = l.conversation_id
             WHERE ($2 OR l.last > COALESCE(s.hidden_up_to, 0)) AND ($3 IS NULL OR l.conversation_id = $3)
               AND ($4 IS NULL OR l.last < $4) AND ($5 IS NULL OR l.last > $5)
             ORDER BY l.last {order} LIMIT $6"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account.get())
            .bind(removed)
            .bind(conversation.map(Id::get))
            .bind(page.max_id.map(Id::get))
            .bind(page.lower().map(Id::get))
            .bind(page.limit as i64)
            .fetch_all(&self.db.pool)
            .await
            .map_err(unexpected)?;
        let mut out: Vec<ConversationRow> = rows
            .iter()
            .map(|r| {
                let last: i64 = r.get(1);
                let read: i64 = r.get(2);
                let last_author: Option<i64> = r.get(3);
                ConversationRow {
                    conversation_id: Id::from_i64(r.get(0)),
                    last_post_id: Id::from_i64(last),
                    // One's own post is read.
                    unread: last > read && last_author != Some(account.get()),
                }
            })
            .collect();
        out.sort_by_key(|c| std::cmp::Reverse(c.last_post_id));
        Ok(out)
    }

    pub(crate) async fn conversation_list(&self, account: Id, page: &Page) -> Result<Vec<ConversationRow>> {
        self.conversation_rows(account, None, false, page).await
    }

    pub(crate) async fn mark_conversation(
        &self,
        account: Id,
        conversation: Id,
        remove: bool,
    ) -> Result<ConversationRow> {
        let one = Page { max_id: None, since_id: None, min_id: None, limit: 1 };
        let row = self
            .conversation_rows(account, Some(conversation), false, &one)
            .await?
            .pop()
            .ok_or(PostsError::NotFound)?;
        let hidden = if remove { row.last_post_id.get() } else { 0 };
        sqlx::query(
            "INSERT INTO conversation_states (account_id, conversation_id, read_up_to, hidden_up_to)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (account_id, conversation_id) DO UPDATE
             SET read_up_to = excluded.read_up_to,
                 hidden_up_to = CASE WHEN excluded.hidden_up_to > conversation_states.hidden_up_to
                                     THEN excluded.hidden_up_to ELSE conversation_states.hidden_up_to END",
        )
        .bind(account.get())
        .bind(conversation.get())
        .bind(row.last_post_id.get())
        .bind(hidden)
        .execute(&self.db.pool)
        .await
        .map_err(unexpected)?;
        Ok(ConversationRow { unread: false, ..row })
    }
}
