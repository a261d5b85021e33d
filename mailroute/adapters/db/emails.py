"""The emails record: one adapter over the store (intake, routing), the claims (sending) and the
reads (API, settings page, retries); the default route's claims many at a time too."""

from __future__ import annotations

from mailroute.adapters.db.batch_claims import BatchClaimsSql
from mailroute.adapters.db.batch_store import BatchStoreSql
from mailroute.adapters.db.email_claims import EmailClaimsSql
from mailroute.adapters.db.email_reads import EmailReadsSql
from mailroute.adapters.db.email_store import EmailStoreSql
from mailroute.adapters.db.pool import Pool


class PostgresEmails(EmailStoreSql, BatchStoreSql, EmailClaimsSql, BatchClaimsSql, EmailReadsSql):
    def __init__(self, pool: Pool) -> None:
        self._pool = pool
