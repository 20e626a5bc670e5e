-- Where each account stopped reading its home timeline and its
-- notifications; `version` counts the changes, and a write names the
-- version it read, so two at once cannot both succeed silently.
CREATE TABLE markers (
    account_id   BIGINT NOT NULL,
    timeline     TEXT NOT NULL CHECK (timeline IN ('home', 'notifications')),
    last_read_id BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (account_id, timeline)
);
