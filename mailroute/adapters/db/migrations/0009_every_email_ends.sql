-- Every accepted email ends sent or failed (mailroute.core.abandoned): the clock counts how
-- often it put an email back on its queue without the email making progress in between, and
-- gives up on it (failed `stalled`) after a few times and a long enough wait.

-- When the clock last put the email back; `updated_at = swept_at` means nothing moved since.
ALTER TABLE emails ADD COLUMN swept_at timestamptz;
-- Re-drives since the email's last progress, each one confirmed by the broker.
ALTER TABLE emails ADD COLUMN stall_requeues integer NOT NULL DEFAULT 0;
-- The email's last progress, as the clock saw it when it first found the email stalled.
ALTER TABLE emails ADD COLUMN stalled_since timestamptz;
