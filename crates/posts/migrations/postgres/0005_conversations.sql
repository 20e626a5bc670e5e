-- A thread's root names its conversation: replies carry their parent's,
-- so muting a conversation is one row, whatever status of it is named.
ALTER TABLE posts ADD COLUMN conversation_id BIGINT;
WITH RECURSIVE thread (id, root) AS (
    SELECT id, id FROM posts WHERE in_reply_to_id IS NULL
    UNION ALL
    SELECT p.id, t.root FROM posts p JOIN thread t ON p.in_reply_to_id = t.id
)
UPDATE posts SET conversation_id = (SELECT root FROM thread WHERE thread.id = posts.id);
-- Replies whose thread lost its root: their own conversation.
UPDATE posts SET conversation_id = id WHERE conversation_id IS NULL;
CREATE INDEX posts_conversation ON posts (conversation_id);

-- Conversations an account muted (its notifications from them are not sent).
CREATE TABLE conversation_mutes (
    account_id      BIGINT NOT NULL,
    conversation_id BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (account_id, conversation_id)
);
