-- mailroute's record: companies, people and keys, emails and their attachments,
-- Gmail connections, the one-per-break notices, and what could not be read.

CREATE TABLE companies (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    reply_to text NOT NULL,
    -- Send from the default address while Gmail is not connected, instead of failing.
    default_while_gmail_broken boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id uuid PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    email text NOT NULL,
    name text NOT NULL DEFAULT '',
    role text NOT NULL CHECK (role IN ('admin', 'sender')),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company_id, email)
);

CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    prefix text NOT NULL UNIQUE,
    key_hash bytea NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'sender')),
    label text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE emails (
    id uuid PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    event_id text NOT NULL,
    kind text NOT NULL,
    sender_choice text NOT NULL CHECK (sender_choice IN ('gmail', 'default', 'auto')),
    status text NOT NULL CHECK (status IN ('queued', 'sending', 'retrying', 'sent', 'failed')),
    route text CHECK (route IN ('gmail', 'default')),
    from_address text,
    reply_to text,
    to_addrs text[] NOT NULL DEFAULT '{}',
    cc_addrs text[] NOT NULL DEFAULT '{}',
    bcc_addrs text[] NOT NULL DEFAULT '{}',
    subject text NOT NULL,
    text_body text,
    html_body text,
    message_id text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    error_code text,
    error_message text,
    provider_message_id text,
    provider_thread_id text,
    possible_duplicate boolean NOT NULL DEFAULT false,
    claim_key text,
    claimed_at timestamptz,
    next_attempt_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    failed_at timestamptz,
    UNIQUE (company_id, event_id)
);
CREATE INDEX emails_company_created ON emails (company_id, created_at DESC);
CREATE INDEX emails_unfinished ON emails (status, updated_at) WHERE status IN ('queued', 'sending', 'retrying');

CREATE TABLE attachments (
    email_id uuid NOT NULL REFERENCES emails (id) ON DELETE CASCADE,
    position integer NOT NULL,
    filename text NOT NULL,
    content_type text NOT NULL,
    size integer NOT NULL,
    sha256 text NOT NULL,
    content bytea NOT NULL,
    PRIMARY KEY (email_id, position)
);

CREATE TABLE gmail_connections (
    id uuid PRIMARY KEY,
    company_id uuid NOT NULL UNIQUE REFERENCES companies (id) ON DELETE CASCADE,
    state text NOT NULL CHECK (state IN ('disconnected', 'active', 'not_connected')),
    address text,
    google_subject text,
    generation integer NOT NULL DEFAULT 0,
    refresh_token_enc bytea,
    access_token_enc bytea,
    access_token_expires_at timestamptz,
    scopes text[] NOT NULL DEFAULT '{}',
    connected_by uuid REFERENCES users (id) ON DELETE SET NULL,
    connected_at timestamptz,
    last_verified_at timestamptz,
    broken_reason text,
    broken_at timestamptz,
    daily_cap integer NOT NULL DEFAULT 500 CHECK (daily_cap > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth_broken_notices (
    connection_id uuid NOT NULL REFERENCES gmail_connections (id) ON DELETE CASCADE,
    generation integer NOT NULL,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    reason text NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent')),
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    PRIMARY KEY (connection_id, generation)
);

-- Messages that reached a queue but could not be read: kept with the reason, never retried.
CREATE TABLE rejected_messages (
    id bigserial PRIMARY KEY,
    queue text NOT NULL,
    actor text NOT NULL,
    message_id text NOT NULL,
    reason text NOT NULL,
    payload text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Outcome events written in the same transaction as the state they report; a relay publishes
-- whatever the fast path could not.
CREATE TABLE outbox_events (
    id bigserial PRIMARY KEY,
    routing_key text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_events_unpublished ON outbox_events (id) WHERE published_at IS NULL;
