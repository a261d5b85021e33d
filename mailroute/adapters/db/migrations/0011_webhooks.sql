-- Outcome webhooks: the HTTPS endpoints a company registered, one delivery per (endpoint,
-- outcome event) written in the transaction that wrote the event, and each delivery's attempts.

CREATE TABLE webhook_endpoints (
    id uuid PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    description text NOT NULL DEFAULT '',
    -- Event types (`email.sent`, …) and family wildcards (`email.*`).
    event_types text[] NOT NULL CHECK (cardinality(event_types) >= 1),
    -- Signing secrets (`whsec_…`), encrypted with the token keys. The one a rotation replaced
    -- signs too until `previous_secret_expires_at`.
    secret_enc bytea NOT NULL,
    previous_secret_enc bytea,
    previous_secret_expires_at timestamptz,
    enabled boolean NOT NULL DEFAULT true,
    disabled_at timestamptz,
    disabled_reason text,
    -- Every attempt since this time failed (NULL after a success, and when enabled again).
    failing_since timestamptz,
    last_success_at timestamptz,
    -- One notice per disabling: the count of disablings is its generation; the notice's status
    -- is set pending by the UPDATE that disabled, and sent by the one delivery that sent it.
    disabled_count integer NOT NULL DEFAULT 0,
    notice_status text CHECK (notice_status IN ('pending', 'sent', 'skipped')),
    notice_requested_at timestamptz,
    notice_attempts integer NOT NULL DEFAULT 0,
    notice_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_company ON webhook_endpoints (company_id, created_at);
CREATE INDEX webhook_endpoints_enabled ON webhook_endpoints (company_id) WHERE enabled;
CREATE INDEX webhook_endpoints_notice_pending ON webhook_endpoints (notice_requested_at)
    WHERE notice_status = 'pending';

CREATE TABLE webhook_deliveries (
    -- `webhook-id` is `msg_<id>`: the same for every attempt and replay.
    id uuid PRIMARY KEY,
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    company_id uuid NOT NULL,
    -- The outbox row of the event (no foreign key: outbox rows may be pruned one day).
    outbox_event_id bigint NOT NULL,
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    correlation_id text,
    -- pending: waits for `next_attempt_at`; sending: an attempt holds `claim_token` since
    -- `claimed_at`; held: its endpoint is disabled; delivered / failed (the schedule spent).
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'held')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    -- When a task for it was last written (by the fan-out, the clock, a replay).
    queued_at timestamptz,
    claim_token uuid,
    claimed_at timestamptz,
    -- A replay of an ended delivery is one attempt: its failure ends it again.
    final_attempt boolean NOT NULL DEFAULT false,
    delivered_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, outbox_event_id)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC);
-- The clock's questions, proportional to the work waiting: what is due, what a dead worker held.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_in_flight ON webhook_deliveries (claimed_at)
    WHERE status = 'sending';
CREATE INDEX webhook_deliveries_held ON webhook_deliveries (endpoint_id) WHERE status = 'held';

CREATE TABLE webhook_attempts (
    id bigserial PRIMARY KEY,
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status_code integer,
    -- The first 1 KiB of the answer's body.
    response_body text NOT NULL DEFAULT '',
    duration_ms integer NOT NULL,
    error text
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- `core.webhook_rules.subscribes`, for the fan-out: named, or the family's wildcard.
CREATE FUNCTION webhook_subscribed(patterns text[], event_type text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT event_type = ANY (patterns)
           OR (position('.' IN event_type) > 0
               AND split_part(event_type, '.', 1) || '.*' = ANY (patterns)) $$;

-- The fan-out: every outcome event written to the outbox, by any statement, gets in the same
-- transaction one delivery per enabled endpoint of its company subscribed to it, and the task
-- (queue `webhooks`, actor `mailroute.deliver_webhook`, the delivery's id) that delivers it.
CREATE FUNCTION webhook_fan_out() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    company text := NEW.payload ->> 'company_id';
BEGIN
    IF company IS NULL OR company !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        RETURN NULL;
    END IF;
    WITH made AS (
        INSERT INTO webhook_deliveries (id, endpoint_id, company_id, outbox_event_id, event_type,
                                        payload, correlation_id, next_attempt_at, queued_at)
        SELECT gen_random_uuid(), e.id, e.company_id, NEW.id, NEW.routing_key, NEW.payload,
               NEW.correlation_id, now(), now()
        FROM webhook_endpoints e
        WHERE e.company_id = company::uuid AND e.enabled
          AND webhook_subscribed(e.event_types, NEW.routing_key)
        ON CONFLICT (endpoint_id, outbox_event_id) DO NOTHING
        RETURNING id
    )
    INSERT INTO outbox_events (routing_key, actor_name, payload, correlation_id)
    SELECT 'webhooks', 'mailroute.deliver_webhook',
           jsonb_build_object('args', jsonb_build_array(made.id::text)), NEW.correlation_id
    FROM made;
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_events_webhook_fan_out AFTER INSERT ON outbox_events
    FOR EACH ROW WHEN (NEW.actor_name IS NULL) EXECUTE FUNCTION webhook_fan_out();
