-- Edits: when a post last changed, and every version it has had (the
-- original is kept when it is first edited), oldest first by id.
ALTER TABLE posts ADD COLUMN edited_at BIGINT;
CREATE TABLE post_versions (
    id           BIGINT PRIMARY KEY,
    post_id      BIGINT NOT NULL,
    text         TEXT NOT NULL,
    spoiler_text TEXT NOT NULL,
    sensitive    BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX post_versions_by_post ON post_versions (post_id, id);
