-- Sending through Gmail.
-- `parked`: a retry due too far ahead for a delayed queue message (a worker would hold it
-- unacked past RabbitMQ's consumer_timeout); the clock re-publishes it when next_attempt_at comes.
-- `broken_generation`: the Gmail connection generation an email failed `gmail_not_connected`
-- under, so after a re-authorization the settings page can offer to retry exactly those.
ALTER TABLE emails ADD COLUMN parked boolean NOT NULL DEFAULT false;
ALTER TABLE emails ADD COLUMN broken_generation integer;
CREATE INDEX emails_parked_due ON emails (next_attempt_at) WHERE status = 'retrying' AND parked;
CREATE INDEX emails_failed_not_connected ON emails (company_id, broken_generation)
    WHERE status = 'failed' AND error_code = 'gmail_not_connected';
