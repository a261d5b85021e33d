-- The Gmail connection's lifecycle: pending OAuth authorizations (single-use state nonces with
-- their PKCE verifier) and one-time login links for the Email settings page.

-- One row per "Sign in with Google" started. The signed `state` names the nonce; the callback
-- consumes the row with one conditional UPDATE, so a state is honoured once, within its expiry,
-- for the company, admin and browser session that started it.
CREATE TABLE oauth_states (
    nonce text PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    user_id uuid REFERENCES users (id) ON DELETE CASCADE,
    session_hash text NOT NULL,
    code_verifier_enc bytea NOT NULL,
    switch_account boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    consumed_at timestamptz
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);

-- `mailroute login-link`: a one-time URL that signs a company admin in to the settings page.
-- Only the token's hash is stored.
CREATE TABLE login_links (
    token_hash bytea PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX login_links_expires ON login_links (expires_at);
