-- The posts component's own schema. Integers are BIGINT throughout so both
-- engines decode them as i64.
CREATE TABLE posts (
    id                     BIGINT PRIMARY KEY,
    author_id              BIGINT NOT NULL,
    text                   TEXT NOT NULL,
    spoiler_text           TEXT NOT NULL DEFAULT '',
    sensitive              BIGINT NOT NULL DEFAULT 0,
    visibility             TEXT NOT NULL CHECK (visibility IN ('public', 'unlisted', 'private')),
    language               TEXT,
    in_reply_to_id         BIGINT,
    in_reply_to_account_id BIGINT,
    app_name               TEXT,
    app_website            TEXT,
    replies_count          BIGINT NOT NULL DEFAULT 0,
    created_at             BIGINT NOT NULL
);
CREATE INDEX posts_author ON posts (author_id, id);
CREATE INDEX posts_public ON posts (id) WHERE visibility = 'public';
CREATE INDEX posts_replies ON posts (in_reply_to_id) WHERE in_reply_to_id IS NOT NULL;
CREATE INDEX posts_replies_to_account ON posts (in_reply_to_account_id, id) WHERE in_reply_to_account_id IS NOT NULL;

CREATE TABLE author_stats (
    author_id      BIGINT PRIMARY KEY,
    statuses_count BIGINT NOT NULL DEFAULT 0,
    last_status_at BIGINT
);

CREATE TABLE idempotency_keys (
    account_id BIGINT NOT NULL,
    key        TEXT NOT NULL,
    post_id    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, key)
);

CREATE TABLE outbox (
    seq      BIGSERIAL PRIMARY KEY,
    envelope TEXT NOT NULL
);
