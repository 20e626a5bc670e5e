-- The users component's own schema: accounts, OAuth, follows.
-- Integers are BIGINT throughout so both engines decode them as i64.
CREATE TABLE accounts (
    id              BIGINT PRIMARY KEY,
    username        TEXT NOT NULL,
    email           TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    display_name    TEXT NOT NULL DEFAULT '',
    note            TEXT NOT NULL DEFAULT '',
    locked          BIGINT NOT NULL DEFAULT 0,
    bot             BIGINT NOT NULL DEFAULT 0,
    followers_count BIGINT NOT NULL DEFAULT 0,
    following_count BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX accounts_username_key ON accounts (lower(username));
CREATE UNIQUE INDEX accounts_email_key ON accounts (lower(email));

CREATE TABLE apps (
    id                 BIGINT PRIMARY KEY,
    name               TEXT NOT NULL,
    website            TEXT,
    redirect_uris      TEXT NOT NULL,
    scopes             TEXT NOT NULL,
    client_id          TEXT NOT NULL UNIQUE,
    client_secret_hash TEXT NOT NULL,
    created_at         BIGINT NOT NULL
);

CREATE TABLE tokens (
    id         BIGINT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    app_id     BIGINT NOT NULL REFERENCES apps (id),
    account_id BIGINT REFERENCES accounts (id),
    scopes     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE auth_codes (
    code_hash    TEXT PRIMARY KEY,
    app_id       BIGINT NOT NULL REFERENCES apps (id),
    account_id   BIGINT NOT NULL REFERENCES accounts (id),
    scopes       TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE TABLE follows (
    id          BIGINT NOT NULL UNIQUE,
    follower_id BIGINT NOT NULL REFERENCES accounts (id),
    followee_id BIGINT NOT NULL REFERENCES accounts (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX follows_followee ON follows (followee_id, id);
CREATE INDEX follows_follower ON follows (follower_id, id);

CREATE TABLE outbox (
    seq      BIGSERIAL PRIMARY KEY,
    envelope TEXT NOT NULL
);
