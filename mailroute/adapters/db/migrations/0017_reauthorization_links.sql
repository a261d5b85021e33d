-- One-time re-authorization links, sent in a break's notice to whoever owns the mailbox. Only
-- the SHA-256 of a link's token is stored. A link names the connection and the generation that
-- broke, and the account (the stored `google_subject`: Google's `sub`, Microsoft's `oid.tid`)
-- that alone may complete its sign-in. Confirming its page records the sign-in it started
-- (`sign_in_nonce`, the nonce of that OAuth state); the completed sign-in spends it
-- (`used_at`), and only the latest sign-in it started can. Re-authorizing raises the
-- generation, so every other link of that break is dead.
CREATE TABLE reauthorization_links (
    token_hash bytea PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    connection_id uuid NOT NULL REFERENCES mailbox_connections (id) ON DELETE CASCADE,
    generation integer NOT NULL,
    provider text NOT NULL,
    account_subject text NOT NULL,
    address text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    sign_in_nonce text UNIQUE,
    confirmed_at timestamptz,
    used_at timestamptz
);
CREATE INDEX reauthorization_links_connection
    ON reauthorization_links (connection_id, generation);
CREATE INDEX reauthorization_links_expires ON reauthorization_links (expires_at);
-- Every sign-in a link started, kept with the link: its callback is held to the link's account
-- even after a later confirm replaced it, or after the link was spent or expired.
CREATE TABLE reauthorization_sign_ins (
    nonce text PRIMARY KEY,
    token_hash bytea NOT NULL REFERENCES reauthorization_links (token_hash) ON DELETE CASCADE,
    started_at timestamptz NOT NULL DEFAULT now()
);

-- The one "Active again" notice per re-authorization after a break, keyed as the break's own
-- notice is: (connection, the generation that is active now).
CREATE TABLE active_again_notices (
    connection_id uuid NOT NULL REFERENCES mailbox_connections (id) ON DELETE CASCADE,
    generation integer NOT NULL,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    address text,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent')),
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    correlation_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    PRIMARY KEY (connection_id, generation)
);
