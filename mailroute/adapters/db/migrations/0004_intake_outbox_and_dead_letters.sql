-- HTTP intake through an outbox: a request is stored in the same transaction as its 202, and
-- published to the dispatch queue right after, or by the clock's relay once RabbitMQ is back.
CREATE TABLE intake_outbox (
    id bigserial PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    event_id text NOT NULL,
    email_id uuid NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    UNIQUE (company_id, event_id)
);
CREATE INDEX intake_outbox_unpublished ON intake_outbox (id) WHERE published_at IS NULL;
CREATE INDEX intake_outbox_email ON intake_outbox (email_id);

-- Why each dead-lettered message failed, by dramatiq message id (RabbitMQ keeps the message in
-- <queue>.XQ; `mailroute dlq list` shows both together).
CREATE TABLE dead_letters (
    message_id text PRIMARY KEY,
    queue text NOT NULL,
    actor text NOT NULL,
    reason text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);
