-- Per Gmail account pacing: one row per connection, shared by every worker process.
-- `next_slot`: the account's next free send slot (slots are 60 s / sends_per_minute apart).
-- `in_flight`: the sends in flight, {email id: lease expiry in epoch seconds}.
-- `day_sends`: sends started per hour bucket, {bucket start in epoch seconds: count}, kept for
-- the current hour and the 24 before it (the daily cap's window).
CREATE TABLE gmail_pacing (
    connection_id uuid PRIMARY KEY REFERENCES gmail_connections (id) ON DELETE CASCADE,
    next_slot timestamptz NOT NULL DEFAULT now(),
    in_flight jsonb NOT NULL DEFAULT '{}',
    day_sends jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A connection's own limits; NULL takes GMAIL_SENDS_PER_MINUTE / GMAIL_MAX_CONCURRENT_SENDS.
-- (`daily_cap`, default 500, is already on the connection.)
ALTER TABLE gmail_connections ADD COLUMN sends_per_minute real CHECK (sends_per_minute > 0);
ALTER TABLE gmail_connections ADD COLUMN max_concurrent_sends integer
    CHECK (max_concurrent_sends > 0);

-- The slot an email was put back on the queue (or parked) to wait for; it sends on that slot
-- when it comes back, so a delayed email is counted once. Cleared when its send starts.
ALTER TABLE emails ADD COLUMN gmail_slot timestamptz;
