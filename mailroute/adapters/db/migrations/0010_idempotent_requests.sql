-- Idempotency as Stripe and Nylas define it: the same event id with the same request answers
-- the first result; with a different request it is refused (409). The request's fingerprint
-- (sha256 of its fields but the event id and correlation id, `EmailRequested.fingerprint`) is
-- kept to tell them apart. Rows stored before this have none, and compare as the same.
ALTER TABLE emails ADD COLUMN request_sha256 text;
