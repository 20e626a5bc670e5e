//! Polls: stored with their post, voted on once per account, closed by a
//! sweep that announces each end once (`poll.ended`).

use crate::service::unexpected;
use crate::*;
use model::time_fmt::now_millis;
use model::{Envelope, Event, Id};
use sqlx::Row;

impl NewPoll {
    /// The poll as stored at `now_ms`, no votes yet; `posts`' own bounds
    /// checked (the caller applied the instance's narrower ones).
    pub(crate) fn record(&self, now_ms: i64) -> Result<PollRecord> {
        if !(2..=Self::MAX_OPTIONS).contains(&self.options.len()) {
            return Err(PostsError::Validation(format!("A poll has 2 to {} options", Self::MAX_OPTIONS)));
        }
        if self.options.iter().any(|o| o.trim().is_empty() || o.chars().count() > Self::MAX_OPTION_CHARS) {
            return Err(PostsError::Validation("Poll options must be non-empty and short".into()));
        }
        if self.expires_in_secs <= 0 {
            return Err(PostsError::Validation("A poll must end in the future".into()));
        }
        Ok(PollRecord {
            options: self.options.iter().map(|t| PollOption { title: t.clone(), votes: 0 }).collect(),
            multiple: self.multiple,
            hide_totals: self.hide_totals,
            expires_at_ms: now_ms.saturating_add(self.expires_in_secs.saturating_mul(1000)),
            votes_count: 0,
            voters_count: 0,
            closed: false,
        })
    }
}

pub(crate) fn poll_json(poll: &PollRecord) -> String {
    serde_json::to_string(poll).expect("a poll serializes")
}

/// Writes post `id`'s poll (none: removes it) as it now is.
async fn write_poll(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: Id, poll: Option<&PollRecord>) -> Result<()> {
    sqlx::query("UPDATE posts SET poll = $1 WHERE id = $2")
        .bind(poll.map(poll_json))
        .bind(id.get())
        .execute(&mut **tx)
        .await
        .map_err(unexpected)?;
    Ok(())
}

impl PostsService {
    /// Stores `poll` as post `id`'s (none: removes it), with its place
    /// among the open polls, in the caller's transaction.
    pub(crate) async fn store_poll(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: Id,
        poll: Option<&PollRecord>,
    ) -> Result<()> {
        write_poll(tx, id, poll).await?;
        sqlx::query("DELETE FROM polls_open WHERE post_id = $1")
            .bind(id.get())
            .execute(&mut **tx)
            .await
            .map_err(unexpected)?;
        if let Some(p) = poll.filter(|p| !p.closed) {
            sqlx::query("INSERT INTO polls_open (post_id, expires_at) VALUES ($1, $2)")
                .bind(id.get())
                .bind(p.expires_at_ms)
                .execute(&mut **tx)
                .await
                .map_err(unexpected)?;
        }
        Ok(())
    }

    /// An edit's poll: the old counts kept when only the end or
    /// `hide_totals` changed, reset when the options or `multiple` did (the
    /// old votes then go). The accounts whose votes went: their cached
    /// marks must be renewed after the commit.
    pub(crate) async fn edit_poll(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: Id,
        before: Option<PollRecord>,
        after: Option<&NewPoll>,
        now: i64,
    ) -> Result<Vec<Id>> {
        let next = match (before, after) {
            (None, None) => return Ok(Vec::new()),
            (_, None) => None,
            (Some(old), Some(new))
                if old.multiple == new.multiple && old.options.iter().map(|o| &o.title).eq(new.options.iter()) =>
            {
                let fresh = new.record(now)?;
                Some(PollRecord {
                    hide_totals: new.hide_totals,
                    expires_at_ms: fresh.expires_at_ms,
                    closed: false,
                    ..old
                })
            }
            (_, Some(new)) => Some(new.record(now)?),
        };
        let mut voters = Vec::new();
        if next.as_ref().is_none_or(|p| p.votes_count == 0) {
            voters = sqlx::query_scalar::<_, i64>("DELETE FROM poll_votes WHERE post_id = $1 RETURNING account_id")
                .bind(id.get())
                .fetch_all(&mut **tx)
                .await
                .map_err(unexpected)?
                .into_iter()
                .map(Id::from_i64)
                .collect();
            voters.sort_unstable();
            voters.dedup();
        }
        self.store_poll(tx, id, next.as_ref()).await?;
        Ok(voters)
    }

    pub(crate) async fn cast_vote(&self, account: Id, post: Id, choices: &[u32]) -> Result<PostRecord> {
        let now = now_millis();
        let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
        // A write first: it takes the post's row (and SQLite's write lock),
        // so two votes at once count one after the other.
        let row = sqlx::query("UPDATE posts SET poll = poll WHERE id = $1 AND poll IS NOT NULL RETURNING poll")
            .bind(post.get())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unexpected)?
            .ok_or(PostsError::NotFound)?;
        let mut poll: PollRecord = serde_json::from_str(&row.get::<String, _>(0))
            .map_err(|e| PostsError::Unexpected(anyhow::anyhow!("post {post}'s stored poll is unreadable: {e}")))?;
        if poll.expired(now) {
            return Err(PostsError::Validation("The poll has already ended".into()));
        }
        let mut choices = choices.to_vec();
        choices.sort_unstable();
        choices.dedup();
        if choices.is_empty() || choices.iter().any(|&c| c as usize >= poll.options.len()) {
            return Err(PostsError::Validation("Choices must name the poll's options".into()));
        }
        if choices.len() > 1 && !poll.multiple {
            return Err(PostsError::Validation("This poll takes one choice".into()));
        }
        let voted: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM poll_votes WHERE post_id = $1 AND account_id = $2")
            .bind(post.get())
            .bind(account.get())
            .fetch_one(&mut *tx)
            .await
            .map_err(unexpected)?;
        if voted > 0 {
            return Err(PostsError::Validation("You have already voted on this poll".into()));
        }
        for &c in &choices {
            sqlx::query("INSERT INTO poll_votes (post_id, account_id, choice, created_at) VALUES ($1, $2, $3, $4)")
                .bind(post.get())
                .bind(account.get())
                .bind(i64::from(c))
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(unexpected)?;
            poll.options[c as usize].votes += 1;
        }
        poll.votes_count += choices.len() as u64;
        poll.voters_count += 1;
        write_poll(&mut tx, post, Some(&poll)).await?;
        tx.commit().await.map_err(unexpected)?;
        self.marks_changed(account).await;
        let record = self.get(post).await?.ok_or(PostsError::NotFound)?;
        if let Some(records) = &self.records {
            records.changed(std::slice::from_ref(&record), &[]).await;
        }
        Ok(record)
    }

    /// Closes the polls whose end has come (up to a batch), each with its
    /// `poll.ended` in the same transaction. Any number of instances may
    /// sweep at once: the open row is taken by one of them only.
    pub async fn close_ended_polls(&self) -> Result<u64> {
        let due: Vec<i64> = sqlx::query_scalar("SELECT post_id FROM polls_open WHERE expires_at <= $1 LIMIT 100")
            .bind(now_millis())
            .fetch_all(&self.db.pool)
            .await
            .map_err(unexpected)?;
        let mut closed = 0;
        for post in due.into_iter().map(Id::from_i64) {
            let mut tx = self.db.pool.begin().await.map_err(unexpected)?;
            let taken = sqlx::query("DELETE FROM polls_open WHERE post_id = $1")
                .bind(post.get())
                .execute(&mut *tx)
                .await
                .map_err(unexpected)?
                .rows_affected();
            let row = sqlx::query("SELECT author_id, poll FROM posts WHERE id = $1")
                .bind(post.get())
                .fetch_optional(&mut *tx)
                .await
                .map_err(unexpected)?;
            let (Some(row), 1) = (row, taken) else { continue };
            let Some(mut poll) =
                row.get::<Option<String>, _>(1).and_then(|p| serde_json::from_str::<PollRecord>(&p).ok())
            else {
                continue;
            };
            poll.closed = true;
            write_poll(&mut tx, post, Some(&poll)).await?;
            let event = Event::PollEnded { post_id: post, author_id: Id::from_i64(row.get(0)) };
            Outbox::enqueue(&mut tx, &Envelope::new(Self::COMPONENT, event)).await.map_err(unexpected)?;
            tx.commit().await.map_err(unexpected)?;
            closed += 1;
            if let Some(record) = self.get(post).await?
                && let Some(records) = &self.records
            {
                records.changed(std::slice::from_ref(&record), &[]).await;
            }
        }
        if closed > 0 {
            self.outbox.wake();
        }
        Ok(closed)
    }
}
