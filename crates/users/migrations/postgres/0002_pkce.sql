-- PKCE (RFC 7636): the challenge an authorization request carried, checked
-- against the verifier when its code is redeemed. Codes are purged once
-- expired, found by their expiry.
ALTER TABLE auth_codes ADD COLUMN code_challenge TEXT;
ALTER TABLE auth_codes ADD COLUMN code_challenge_method TEXT;
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);
