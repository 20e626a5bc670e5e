-- Favourites: who favourited which post, once each. The id orders an
-- account's favourites (GET /api/v1/favourites pages by it) and a post's
-- favouriters; the post keeps its count.
CREATE TABLE favourites (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    post_id    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (account_id, post_id)
);
CREATE INDEX favourites_by_account ON favourites (account_id, id);
CREATE INDEX favourites_by_post ON favourites (post_id, id);
ALTER TABLE posts ADD COLUMN favourites_count INTEGER NOT NULL DEFAULT 0;
