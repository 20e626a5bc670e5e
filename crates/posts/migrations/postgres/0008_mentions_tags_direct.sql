-- Mentions, hashtags and direct posts.
--
-- A post keeps what its text names as it was parsed at creation (or at its
-- last edit): `mentions`, a JSON list of the local accounts it mentions
-- ({"id", "username"}), and `tags`, a JSON list of its hashtags as first
-- written, so that reading a post needs no second query. The same facts,
-- one row each, in `post_mentions` and `post_tags`, for the queries that
-- start from an account or a tag.
ALTER TABLE posts DROP CONSTRAINT posts_visibility_check;
ALTER TABLE posts ADD CONSTRAINT posts_visibility_check
    CHECK (visibility IN ('public', 'unlisted', 'private', 'direct'));
ALTER TABLE posts ADD COLUMN mentions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE posts ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
-- An account's direct posts, for its conversations.
CREATE INDEX posts_direct ON posts (author_id, id) WHERE visibility = 'direct';

-- Who a post mentions; by account, for the posts one was mentioned in.
CREATE TABLE post_mentions (
    post_id    BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    PRIMARY KEY (post_id, account_id)
);
CREATE INDEX post_mentions_by_account ON post_mentions (account_id, post_id);

-- A post's hashtags (normalized); `public` marks the posts a tag timeline
-- lists (public, not boosts).
CREATE TABLE post_tags (
    tag        TEXT NOT NULL,
    post_id    BIGINT NOT NULL,
    author_id  BIGINT NOT NULL,
    public     BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tag, post_id)
);
CREATE INDEX post_tags_by_post ON post_tags (post_id);

-- Every hashtag ever used, as first written.
CREATE TABLE tags (
    name       TEXT PRIMARY KEY,
    display    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Hashtags accounts follow; the id orders an account's list.
CREATE TABLE tag_follows (
    id         BIGINT PRIMARY KEY,
    account_id BIGINT NOT NULL,
    tag        TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, tag)
);
CREATE INDEX tag_follows_by_tag ON tag_follows (tag);

-- What each account did to its direct conversations: read up to a post,
-- removed (hidden) up to a post; a newer post brings it back unread.
CREATE TABLE conversation_states (
    account_id      BIGINT NOT NULL,
    conversation_id BIGINT NOT NULL,
    read_up_to      BIGINT NOT NULL DEFAULT 0,
    hidden_up_to    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, conversation_id)
);
