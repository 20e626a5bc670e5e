-- Where each account stopped reading its home timeline and its
-- notifications; `version` counts the changes, and a write names the
-- version it read, so two at once cannot both succeed silently.
CREATE TABLE markers (
    account_id   INTEGER NOT NULL,
    timeline     TEXT NOT NULL CHECK (timeline IN ('home', 'notifications')),
    last_read_id INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, timeline)
);
