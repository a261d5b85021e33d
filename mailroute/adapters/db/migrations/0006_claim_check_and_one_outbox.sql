-- Ids on the queues, one outbox, one break path, one correlation id per email.

-- `accepted`: stored by the HTTP intake, `mailroute send` or a large `publish()`, not routed yet
-- (route NULL); the dispatch queue gets only its id.
ALTER TABLE emails DROP CONSTRAINT emails_status_check;
ALTER TABLE emails ADD CONSTRAINT emails_status_check
    CHECK (status IN ('accepted', 'queued', 'sending', 'retrying', 'sent', 'failed'));
ALTER TABLE emails ADD COLUMN correlation_id text;
DROP INDEX emails_unfinished;
CREATE INDEX emails_unfinished ON emails (status, updated_at)
    WHERE status IN ('accepted', 'queued', 'sending', 'retrying');

-- One outbox for everything mailroute publishes after a commit. A row with `actor_name` is a
-- task: a dramatiq message for that actor on the queue named by `routing_key`, its arguments
-- in `payload->'args'`. Any other row is an event for the topic exchange. A row the broker
-- refused (too large, say) is marked with the reason instead of blocking the rows behind it.
ALTER TABLE outbox_events ADD COLUMN actor_name text;
ALTER TABLE outbox_events ADD COLUMN correlation_id text;
ALTER TABLE outbox_events ADD COLUMN refused_reason text;

-- The notice is opened in the same transaction as the break: it names the account and the
-- reason of that break, whatever the connection holds later.
ALTER TABLE auth_broken_notices ADD COLUMN address text;
ALTER TABLE auth_broken_notices ADD COLUMN broken_at timestamptz;
ALTER TABLE auth_broken_notices ADD COLUMN correlation_id text;
-- When the clock last asked the notify queue again for a notice still pending.
ALTER TABLE auth_broken_notices ADD COLUMN requeued_at timestamptz;
UPDATE auth_broken_notices n SET address = g.address, broken_at = coalesce(g.broken_at, n.created_at)
    FROM gmail_connections g WHERE g.id = n.connection_id;
-- A break of the earlier release whose notice was never opened is notified now (the clock's
-- backstop asks the notify queue for every pending notice).
INSERT INTO auth_broken_notices (connection_id, generation, company_id, reason, address, broken_at)
    SELECT id, generation, company_id, coalesce(broken_reason, 'expired'), address,
           coalesce(broken_at, now())
    FROM gmail_connections WHERE state = 'not_connected'
    ON CONFLICT (connection_id, generation) DO NOTHING;
