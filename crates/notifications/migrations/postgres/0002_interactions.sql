-- Notifications of follow requests, favourites, boosts, mentions, ended polls,
-- posts of accounts followed with `notify`, and edits of boosted posts.
ALTER TABLE notifications DROP CONSTRAINT notifications_type_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_type_check
    CHECK (type IN ('follow', 'follow_request', 'favourite', 'reblog', 'mention', 'poll', 'status', 'update'));
-- A deleted post takes its notifications along.
CREATE INDEX notifications_status ON notifications (status_id) WHERE status_id IS NOT NULL;
