-- Retention (mailroute.core.retention): an ended email's bodies and attachments' bytes are
-- deleted after RETENTION_DAYS (its record, sizes and sha256 stay), and the clock prunes in
-- small batches what nothing reads any more. Each of the clock's questions has an index that
-- holds only the rows it may act on, so it costs the work waiting, not the size of the table.

-- When the email's content was deleted; NULL while it is kept.
ALTER TABLE emails ADD COLUMN content_purged_at timestamptz;
-- A purged attachment keeps its filename, type, size and sha256; its bytes are NULL.
ALTER TABLE attachments ALTER COLUMN content DROP NOT NULL;

-- Ended emails that still keep their content, by the time of their outcome.
CREATE INDEX emails_content_kept ON emails (updated_at)
    WHERE status IN ('sent', 'failed') AND content_purged_at IS NULL;
-- Published outbox rows, by when they were published (the refused ones among them).
CREATE INDEX outbox_events_published ON outbox_events (published_at)
    WHERE published_at IS NOT NULL;
-- Webhook deliveries that ended, by when.
CREATE INDEX webhook_deliveries_ended ON webhook_deliveries (updated_at)
    WHERE status IN ('delivered', 'failed');
CREATE INDEX rejected_messages_created ON rejected_messages (created_at);
CREATE INDEX dead_letters_failed ON dead_letters (failed_at);
CREATE INDEX pending_revocations_settled ON pending_revocations (settled_at)
    WHERE status <> 'pending';
-- Settled revocations of a company that was deleted (the rest of its rows went with it).
CREATE INDEX pending_revocations_orphaned ON pending_revocations (settled_at)
    WHERE status <> 'pending' AND company_id IS NULL;
-- The clock's backstop for notices still pending (`ask_again`).
CREATE INDEX auth_broken_notices_pending ON auth_broken_notices (created_at)
    WHERE status = 'pending';
