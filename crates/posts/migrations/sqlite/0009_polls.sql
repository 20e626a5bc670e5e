-- Polls: a post's poll is stored with it (`poll`, JSON: the options with
-- their counts, `multiple`, `hide_totals`, `expires_at_ms`, the totals),
-- so reading a post needs no second query; its id is the post's. Votes one
-- row per choice, so an account votes once per option at most; open polls
-- by their end, for the sweep that closes them and announces it.
ALTER TABLE posts ADD COLUMN poll TEXT;
CREATE TABLE poll_votes (
    post_id    INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    choice     INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (post_id, account_id, choice)
);
CREATE INDEX poll_votes_by_account ON poll_votes (account_id, post_id);
CREATE TABLE polls_open (
    post_id    INTEGER PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX polls_open_by_end ON polls_open (expires_at);
