-- Least privilege kept, and token refreshes that hold no lock across Google's HTTP call.

-- A grant mailroute no longer keeps (Revoke Access, an account switch's old grant, a grant
-- refused for holding more scopes than asked for) stays here, its token still encrypted, until
-- Google confirms it forgot it. The transition that drops the grant writes the row in its own
-- transaction; the requester attempts it at once, the clock retries with backoff. Confirmed
-- (or dropped because the Google account is connected again) rows keep no token.
CREATE TABLE pending_revocations (
    id bigserial PRIMARY KEY,
    -- Kept when the company is deleted: Google must still be asked.
    company_id uuid REFERENCES companies (id) ON DELETE SET NULL,
    google_subject text NOT NULL,
    address text,
    reason text NOT NULL CHECK (reason IN ('revoke_access', 'superseded', 'refused_grant')),
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'confirmed', 'cancelled')),
    token_enc bytea,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    -- The next attempt's due time, and the lease of an attempt in flight.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    settled_at timestamptz,
    CHECK ((status = 'pending') = (token_enc IS NOT NULL))
);
CREATE INDEX pending_revocations_due ON pending_revocations (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX pending_revocations_company ON pending_revocations (company_id)
    WHERE status = 'pending';

-- The refresh lease: one caller across threads and processes refreshes a connection's access
-- token; it takes the lease with a conditional UPDATE (committed at once), calls Google with
-- no database connection held, then stores the token and clears the lease. Others poll
-- briefly for the new token; an abandoned lease expires.
ALTER TABLE gmail_connections
    ADD COLUMN refresh_lease_owner text,
    ADD COLUMN refresh_lease_until timestamptz;
