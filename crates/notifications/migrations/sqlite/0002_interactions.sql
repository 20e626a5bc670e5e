-- Notifications of follow requests, favourites, boosts, mentions, ended polls,
-- posts of accounts followed with `notify`, and edits of boosted posts. SQLite
-- cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE notifications_new (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL,
    type            TEXT NOT NULL CHECK (type IN ('follow', 'follow_request', 'favourite', 'reblog', 'mention', 'poll', 'status', 'update')),
    from_account_id INTEGER NOT NULL,
    status_id       INTEGER,
    cause           TEXT NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL
);
INSERT INTO notifications_new SELECT id, account_id, type, from_account_id, status_id, cause, created_at FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
CREATE INDEX notifications_account ON notifications (account_id, id);
-- A deleted post takes its notifications along.
CREATE INDEX notifications_status ON notifications (status_id) WHERE status_id IS NOT NULL;
