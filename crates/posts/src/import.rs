//! Bulk import of public posts, written straight to this component's
//! tables in multi-row statements, for loading a fresh deployment (load
//! tests, migrations). No events are published: home timelines are built
//! from the store on their first read.

use crate::PostsService;
use model::Id;

impl PostsService {
    /// Inserts public posts `(author, text)` in the given order (ids
    /// increase along it, so the last is the newest) and brings the
    /// authors' counters up to date; returns the new ids.
    pub async fn import(&self, posts: &[(Id, String)]) -> anyhow::Result<Vec<Id>> {
        let rows: Vec<(Id, Id, &str)> = posts.iter().map(|(a, t)| (self.ids.next(), *a, t.as_str())).collect();
        store::insert_rows(
            &self.db.pool,
            "INSERT INTO posts (id, author_id, text, visibility, created_at)",
            5,
            &rows,
            |q, r| q.bind(r.0.get()).bind(r.1.get()).bind(r.2.to_string()).bind("public").bind(r.0.unix_millis()),
        )
        .await?;
        sqlx::query(
            "INSERT INTO author_stats (author_id, statuses_count, last_status_at)
             SELECT author_id, COUNT(*), MAX(created_at) FROM posts GROUP BY author_id
             ON CONFLICT (author_id) DO UPDATE
             SET statuses_count = excluded.statuses_count, last_status_at = excluded.last_status_at",
        )
        .execute(&self.db.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}
