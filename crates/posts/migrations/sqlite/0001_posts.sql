-- The posts component's own database.
CREATE TABLE posts (
    id                     INTEGER PRIMARY KEY,
    author_id              INTEGER NOT NULL,
    text                   TEXT NOT NULL,
    spoiler_text           TEXT NOT NULL DEFAULT '',
    sensitive              INTEGER NOT NULL DEFAULT 0,
    visibility             TEXT NOT NULL CHECK (visibility IN ('public', 'unlisted', 'private')),
    language               TEXT,
    in_reply_to_id         INTEGER,
    in_reply_to_account_id INTEGER,
    app_name               TEXT,
    app_website            TEXT,
    replies_count          INTEGER NOT NULL DEFAULT 0,
    created_at             INTEGER NOT NULL
);
CREATE INDEX posts_author ON posts (author_id, id);
-- The public timeline reads only public posts, newest first.
CREATE INDEX posts_public ON posts (id) WHERE visibility = 'public';
CREATE INDEX posts_replies ON posts (in_reply_to_id) WHERE in_reply_to_id IS NOT NULL;
-- Replies addressed to an account, for home-timeline follow/unfollow.
CREATE INDEX posts_replies_to_account ON posts (in_reply_to_account_id, id) WHERE in_reply_to_account_id IS NOT NULL;

CREATE TABLE author_stats (
    author_id      INTEGER PRIMARY KEY,
    statuses_count INTEGER NOT NULL DEFAULT 0,
    last_status_at INTEGER
);

-- Idempotency-Key: the same key from the same account within an hour
-- returns the post it created the first time.
CREATE TABLE idempotency_keys (
    account_id INTEGER NOT NULL,
    key        TEXT NOT NULL,
    post_id    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
);

CREATE TABLE outbox (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    envelope TEXT NOT NULL
);
