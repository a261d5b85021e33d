-- A mailbox's daily cap depends on its provider (Gmail counts messages, 500 for a consumer
-- account; Exchange Online counts recipients, 10,000 in a rolling day), so a connection keeps a
-- cap of its own only when one was set for it: NULL is its provider's default. Existing rows
-- keep the value they have (500, Gmail's default, or one set for that account).
ALTER TABLE mailbox_connections ALTER COLUMN daily_cap DROP NOT NULL;
ALTER TABLE mailbox_connections ALTER COLUMN daily_cap DROP DEFAULT;
