-- The notifications component's own schema. One row per notification;
-- `cause` names what caused it (`follow:<follower>:<followee>`), so a
-- redelivered event finds its row and adds none, and undoing the cause
-- finds the row to remove. Integers are BIGINT so both engines decode i64.
CREATE TABLE notifications (
    id              BIGINT PRIMARY KEY,
    account_id      BIGINT NOT NULL,
    type            TEXT NOT NULL CHECK (type IN ('follow')),
    from_account_id BIGINT NOT NULL,
    status_id       BIGINT,
    cause           TEXT NOT NULL UNIQUE,
    created_at      BIGINT NOT NULL
);
-- An account's notifications, newest first.
CREATE INDEX notifications_account ON notifications (account_id, id);
