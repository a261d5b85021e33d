-- Google's Cross-Account Protection tokens, once per jti: a replayed token finds its row and is
-- answered without being processed again. `outcome` is NULL until the worker processed it.
-- Rows are kept RISC_RETENTION_DAYS (longer than a token may be old), then deleted.
CREATE TABLE risc_events (
    id uuid PRIMARY KEY,
    jti text NOT NULL UNIQUE,
    event_types text[] NOT NULL,
    subject text,
    events jsonb NOT NULL,
    issued_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    outcome text,
    connections_broken integer NOT NULL DEFAULT 0,
    processed_at timestamptz
);
CREATE INDEX risc_events_received ON risc_events (received_at);
-- Events name a Google account by `sub`; several companies may have connected it.
CREATE INDEX mailbox_connections_google_subject ON mailbox_connections (google_subject)
    WHERE google_subject IS NOT NULL;
