-- Connections to any registered provider's mailbox (mailroute.core.providers): the Gmail
-- connections table becomes one for every provider, a company connecting at most one mailbox
-- per provider. Existing rows are Gmail's. `refresh_token_enc` holds what renews the access
-- token: Google's refresh token, or for Microsoft the serialized MSAL token cache (which holds
-- the rotating refresh token). `google_subject` is the account's stable id at its provider.
ALTER TABLE gmail_connections RENAME TO mailbox_connections;
ALTER TABLE mailbox_connections
    ADD COLUMN provider text NOT NULL DEFAULT 'gmail' CHECK (provider IN ('gmail', 'microsoft'));
ALTER TABLE mailbox_connections DROP CONSTRAINT gmail_connections_company_id_key;
ALTER TABLE mailbox_connections
    ADD CONSTRAINT mailbox_connections_company_provider UNIQUE (company_id, provider);

-- `auto` sends from the company's primary mailbox when it has chosen one.
ALTER TABLE companies
    ADD COLUMN primary_provider text CHECK (primary_provider IN ('gmail', 'microsoft'));

-- A request may name any provider. The new checks allow more than the old ones, which every
-- existing row passed: NOT VALID spares a scan of years of emails under an exclusive lock.
ALTER TABLE emails DROP CONSTRAINT emails_sender_choice_check;
ALTER TABLE emails ADD CONSTRAINT emails_sender_choice_check
    CHECK (sender_choice IN ('gmail', 'microsoft', 'default', 'auto')) NOT VALID;
ALTER TABLE emails DROP CONSTRAINT emails_route_check;
ALTER TABLE emails ADD CONSTRAINT emails_route_check
    CHECK (route IN ('gmail', 'microsoft', 'default')) NOT VALID;
