-- Pins: an author's own posts featured on their profile, at most five,
-- newest pin first.
CREATE TABLE pins (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    post_id    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (account_id, post_id)
);
CREATE INDEX pins_by_account ON pins (account_id, id);
CREATE INDEX pins_by_post ON pins (post_id);
