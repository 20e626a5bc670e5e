-- The users component's own database: accounts, OAuth, follows.
CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY,
    username        TEXT NOT NULL,
    email           TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    display_name    TEXT NOT NULL DEFAULT '',
    note            TEXT NOT NULL DEFAULT '',
    locked          INTEGER NOT NULL DEFAULT 0,
    bot             INTEGER NOT NULL DEFAULT 0,
    followers_count INTEGER NOT NULL DEFAULT 0,
    following_count INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);
-- Usernames and e-mails are unique regardless of case, as in Mastodon.
CREATE UNIQUE INDEX accounts_username_key ON accounts (lower(username));
CREATE UNIQUE INDEX accounts_email_key ON accounts (lower(email));

CREATE TABLE apps (
    id                 INTEGER PRIMARY KEY,
    name               TEXT NOT NULL,
    website            TEXT,
    redirect_uris      TEXT NOT NULL,
    scopes             TEXT NOT NULL,
    client_id          TEXT NOT NULL UNIQUE,
    client_secret_hash TEXT NOT NULL,
    created_at         INTEGER NOT NULL
);

-- Tokens and codes are stored as SHA-256 digests: they are 256-bit random
-- strings, so a fast hash is enough and a database leak yields no tokens.
CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    app_id     INTEGER NOT NULL REFERENCES apps (id),
    account_id INTEGER REFERENCES accounts (id),
    scopes     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE auth_codes (
    code_hash    TEXT PRIMARY KEY,
    app_id       INTEGER NOT NULL REFERENCES apps (id),
    account_id   INTEGER NOT NULL REFERENCES accounts (id),
    scopes       TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    expires_at   INTEGER NOT NULL
);

CREATE TABLE follows (
    id          INTEGER NOT NULL UNIQUE,
    follower_id INTEGER NOT NULL REFERENCES accounts (id),
    followee_id INTEGER NOT NULL REFERENCES accounts (id),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
-- Followers of an account, newest first (keyset on the follow id).
CREATE INDEX follows_followee ON follows (followee_id, id);
CREATE INDEX follows_follower ON follows (follower_id, id);

CREATE TABLE outbox (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    envelope TEXT NOT NULL
);
