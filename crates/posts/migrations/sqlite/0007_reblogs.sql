-- Boosts: a boost is a post of the booster's carrying the boosted post's
-- id, at most one per account and post (boosting a boost boosts its
-- original). The boosted post keeps its count; the boost keeps its author,
-- so timelines can hide boosts of blocked or muted accounts unread.
ALTER TABLE posts ADD COLUMN reblog_of_id INTEGER;
ALTER TABLE posts ADD COLUMN reblog_of_account_id INTEGER;
ALTER TABLE posts ADD COLUMN reblogs_count INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX posts_one_reblog ON posts (reblog_of_id, author_id) WHERE reblog_of_id IS NOT NULL;
-- `reblogged_by` pages a post's boosts by boost id.
CREATE INDEX posts_reblogs ON posts (reblog_of_id, id) WHERE reblog_of_id IS NOT NULL;
-- The public timeline leaves boosts out, as Mastodon's does.
DROP INDEX posts_public;
CREATE INDEX posts_public ON posts (id) WHERE visibility = 'public' AND reblog_of_id IS NULL;
