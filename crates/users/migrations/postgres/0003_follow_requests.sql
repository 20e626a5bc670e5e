-- Follows of a locked account wait here until it authorizes or rejects
-- them; the id orders an account's pending requests.
CREATE TABLE follow_requests (
    id          BIGINT PRIMARY KEY,
    follower_id BIGINT NOT NULL,
    followee_id BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (follower_id, followee_id)
);
CREATE INDEX follow_requests_by_followee ON follow_requests (followee_id, id);
