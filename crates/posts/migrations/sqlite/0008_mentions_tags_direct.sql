-- Mentions, hashtags and direct posts.
--
-- A post keeps what its text names as it was parsed at creation (or at its
-- last edit): `mentions`, a JSON list of the local accounts it mentions
-- ({"id", "username"}), and `tags`, a JSON list of its hashtags as first
-- written, so that reading a post needs no second query. The same facts,
-- one row each, in `post_mentions` and `post_tags`, for the queries that
-- start from an account or a tag.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt
-- to admit `direct`.
CREATE TABLE posts_new (
    id                     INTEGER PRIMARY KEY,
    author_id              INTEGER NOT NULL,
    text                   TEXT NOT NULL,
    spoiler_text           TEXT NOT NULL DEFAULT '',
    sensitive              INTEGER NOT NULL DEFAULT 0,
    visibility             TEXT NOT NULL CHECK (visibility IN ('public', 'unlisted', 'private', 'direct')),
    language               TEXT,
    in_reply_to_id         INTEGER,
    in_reply_to_account_id INTEGER,
    app_name               TEXT,
    app_website            TEXT,
    replies_count          INTEGER NOT NULL DEFAULT 0,
    created_at             INTEGER NOT NULL,
    favourites_count       INTEGER NOT NULL DEFAULT 0,
    conversation_id        INTEGER,
    edited_at              INTEGER,
    reblog_of_id           INTEGER,
    reblog_of_account_id   INTEGER,
    reblogs_count          INTEGER NOT NULL DEFAULT 0,
    mentions               TEXT NOT NULL DEFAULT '[]',
    tags                   TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO posts_new (id, author_id, text, spoiler_text, sensitive, visibility, language, in_reply_to_id,
                       in_reply_to_account_id, app_name, app_website, replies_count, created_at, favourites_count,
                       conversation_id, edited_at, reblog_of_id, reblog_of_account_id, reblogs_count)
SELECT id, author_id, text, spoiler_text, sensitive, visibility, language, in_reply_to_id,
       in_reply_to_account_id, app_name, app_website, replies_count, created_at, favourites_count,
       conversation_id, edited_at, reblog_of_id, reblog_of_account_id, reblogs_count
FROM posts;
DROP TABLE posts;
ALTER TABLE posts_new RENAME TO posts;
CREATE INDEX posts_author ON posts (author_id, id);
CREATE INDEX posts_public ON posts (id) WHERE visibility = 'public' AND reblog_of_id IS NULL;
CREATE INDEX posts_replies ON posts (in_reply_to_id) WHERE in_reply_to_id IS NOT NULL;
CREATE INDEX posts_replies_to_account ON posts (in_reply_to_account_id, id) WHERE in_reply_to_account_id IS NOT NULL;
CREATE INDEX posts_conversation ON posts (conversation_id);
CREATE UNIQUE INDEX posts_one_reblog ON posts (reblog_of_id, author_id) WHERE reblog_of_id IS NOT NULL;
CREATE INDEX posts_reblogs ON posts (reblog_of_id, id) WHERE reblog_of_id IS NOT NULL;
-- An account's direct posts, for its conversations.
CREATE INDEX posts_direct ON posts (author_id, id) WHERE visibility = 'direct';

-- Who a post mentions; by account, for the posts one was mentioned in.
CREATE TABLE post_mentions (
    post_id    INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    PRIMARY KEY (post_id, account_id)
);
CREATE INDEX post_mentions_by_account ON post_mentions (account_id, post_id);

-- A post's hashtags (normalized); `public` marks the posts a tag timeline
-- lists (public, not boosts).
CREATE TABLE post_tags (
    tag        TEXT NOT NULL,
    post_id    INTEGER NOT NULL,
    author_id  INTEGER NOT NULL,
    public     INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tag, post_id)
);
CREATE INDEX post_tags_by_post ON post_tags (post_id);

-- Every hashtag ever used, as first written.
CREATE TABLE tags (
    name       TEXT PRIMARY KEY,
    display    TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Hashtags accounts follow; the id orders an account's list.
CREATE TABLE tag_follows (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    tag        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (account_id, tag)
);
CREATE INDEX tag_follows_by_tag ON tag_follows (tag);

-- What each account did to its direct conversations: read up to a post,
-- removed (hidden) up to a post; a newer post brings it back unread.
CREATE TABLE conversation_states (
    account_id      INTEGER NOT NULL,
    conversation_id INTEGER NOT NULL,
    read_up_to      INTEGER NOT NULL DEFAULT 0,
    hidden_up_to    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, conversation_id)
);
