-- Bookmarks: private to the account, no count on the post; otherwise as
-- favourites (the id orders an account's bookmarks).
CREATE TABLE bookmarks (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    post_id    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (account_id, post_id)
);
CREATE INDEX bookmarks_by_account ON bookmarks (account_id, id);
CREATE INDEX bookmarks_by_post ON bookmarks (post_id);
