-- When a connection's refresh token is known to end (the provider said so: Google's
-- `refresh_token_expires_in`, given for a project in testing mode and for time-based access);
-- NULL when no end is known. Set at connect time and by each refresh that carries the hint.
ALTER TABLE mailbox_connections ADD COLUMN refresh_expires_at timestamptz;

-- The one advance notice per connection generation that its refresh token ends soon. The row
-- is opened by one INSERT .. ON CONFLICT DO NOTHING (two clocks open it once), then delivered
-- under FOR UPDATE SKIP LOCKED and marked sent in the same transaction (two clocks send it
-- once); a failed send leaves it pending for the next tick. Re-authorizing raises the
-- generation: a new key, so the next end is announced again.
CREATE TABLE expiry_notices (
    connection_id uuid NOT NULL REFERENCES mailbox_connections (id) ON DELETE CASCADE,
    generation integer NOT NULL,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    address text,
    expires_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dropped')),
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    PRIMARY KEY (connection_id, generation)
);
CREATE INDEX expiry_notices_pending ON expiry_notices (created_at) WHERE status = 'pending';
-- The clock's search for connections entering the window.
CREATE INDEX mailbox_connections_refresh_expires ON mailbox_connections (refresh_expires_at)
    WHERE refresh_expires_at IS NOT NULL AND state = 'active';
