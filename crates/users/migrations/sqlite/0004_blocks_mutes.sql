-- Blocks: account_id blocks target_id. A block ends follows and follow
-- requests both ways, in its transaction; the id orders an account's
-- blocks (GET /api/v1/blocks pages by it).
CREATE TABLE blocks (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    target_id  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (account_id, target_id)
);
CREATE INDEX blocks_by_target ON blocks (target_id);
-- Mutes: account_id mutes target_id, its notifications too unless
-- notifications is 0, until expires_at (null: until unmuted). Expired
-- mutes are swept (and announced) by the users component.
CREATE TABLE mutes (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL,
    target_id     INTEGER NOT NULL,
    notifications INTEGER NOT NULL DEFAULT 1,
    expires_at    INTEGER,
    created_at    INTEGER NOT NULL,
    UNIQUE (account_id, target_id)
);
CREATE INDEX mutes_by_target ON mutes (target_id);
CREATE INDEX mutes_expiring ON mutes (expires_at) WHERE expires_at IS NOT NULL;
-- What a follower asked of a follow: the followee's boosts in its home
-- (show_reblogs), a notification for each of its posts (notify). A
-- request keeps them until it is authorized.
ALTER TABLE follows ADD COLUMN show_reblogs INTEGER NOT NULL DEFAULT 1;
ALTER TABLE follows ADD COLUMN notify INTEGER NOT NULL DEFAULT 0;
ALTER TABLE follow_requests ADD COLUMN show_reblogs INTEGER NOT NULL DEFAULT 1;
ALTER TABLE follow_requests ADD COLUMN notify INTEGER NOT NULL DEFAULT 0;
