-- Browser sessions known server-side, and rate limits shared by every web process.

-- One row per browser session of the settings page (or of an OAuth flow started over the API).
-- The cookie carries a random token; only its hash is stored. Signing out deletes the row, so
-- an old copy of the cookie opens nothing; a session expires at `expires_at` whatever the
-- cookie says; removing the user (or the company) removes their sessions.
CREATE TABLE browser_sessions (
    -- The id OAuth states are bound to (as a keyed hash); never sent to the browser.
    id text PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE,
    company_id uuid REFERENCES companies (id) ON DELETE CASCADE,
    user_id uuid REFERENCES users (id) ON DELETE CASCADE,
    csrf text NOT NULL,
    -- One-shot notices for the next page, oldest first (at most five kept).
    notices jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CHECK ((company_id IS NULL) = (user_id IS NULL))
);
CREATE INDEX browser_sessions_expiry ON browser_sessions (expires_at);
CREATE INDEX browser_sessions_user ON browser_sessions (user_id) WHERE user_id IS NOT NULL;

-- A sliding-window limit per key (e.g. "Check now" per company): the times of the calls let
-- through in the window, at most the limit of them.
CREATE TABLE rate_limits (
    key text PRIMARY KEY,
    hits timestamptz[] NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rate_limits_updated ON rate_limits (updated_at);
