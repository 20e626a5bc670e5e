-- The notifications component's own database. One row per notification;
-- `cause` names what caused it (`follow:<follower>:<followee>`), so a
-- redelivered event finds its row and adds none, and undoing the cause
-- finds the row to remove.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL,
    type            TEXT NOT NULL CHECK (type IN ('follow')),
    from_account_id INTEGER NOT NULL,
    status_id       INTEGER,
    cause           TEXT NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL
);
-- An account's notifications, newest first.
CREATE INDEX notifications_account ON notifications (account_id, id);
