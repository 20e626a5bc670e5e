-- Notifications of follow requests, favourites, boosts and mentions.
ALTER TABLE notifications DROP CONSTRAINT notifications_type_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_type_check
    CHECK (type IN ('follow', 'follow_request', 'favourite', 'reblog', 'mention'));
-- A deleted post takes its notifications along.
CREATE INDEX notifications_status ON notifications (status_id) WHERE status_id IS NOT NULL;
