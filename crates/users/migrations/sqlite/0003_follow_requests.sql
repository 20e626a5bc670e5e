-- Follows of a locked account wait here until it authorizes or rejects
-- them; the id orders an account's pending requests.
CREATE TABLE follow_requests (
    id          INTEGER PRIMARY KEY,
    follower_id INTEGER NOT NULL,
    followee_id INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (follower_id, followee_id)
);
CREATE INDEX follow_requests_by_followee ON follow_requests (followee_id, id);
