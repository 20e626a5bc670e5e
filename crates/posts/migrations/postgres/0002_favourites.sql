-- Favourites: who favourited which post, once each. The id orders an
-- account's favourites (GET /api/v1/favourites pages by it) and a post's
-- favouriters; the post keeps its count.
CREATE TABLE favourites (
    id         BIGINT PRIMARY KEY,
    account_id BIGINT NOT NULL,
    post_id    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, post_id)
);
CREATE INDEX favourites_by_account ON favourites (account_id, id);
CREATE INDEX favourites_by_post ON favourites (post_id, id);
ALTER TABLE posts ADD COLUMN favourites_count BIGINT NOT NULL DEFAULT 0;
