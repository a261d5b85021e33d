"""Connected Gmail accounts for the bench: companies whose Gmail is connected for real through
the sandbox (consent approved without a browser, the code exchanged by google-auth-oauthlib,
tokens stored encrypted).

By default (`lifted`) the sandbox's quotas and mailroute's pacing are lifted for them, so that
the pipeline, not Google's per-user quota, is what the bench measures; with `lifted=False` the
accounts keep Google's limits in the sandbox and mailroute's default Gmail pacing, as a real
customer's would."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.google.oauth import GoogleOAuth
from mailroute.config.settings import Settings
from mailroute_sandbox.client import SandboxClient
from tests.google_sign_in import connect_for_real

UNLIMITED = 10_000_000
# Each connection is a few HTTP round trips to the sandbox and a few statements; a handful of
# threads overlaps their waits (the bench's pool has 4 connections, the machine few cores).
CONNECT_THREADS = 8


def connect_accounts(
    settings: Settings,
    pool: Pool,
    count: int,
    *,
    lifted: bool = True,
    threads: int = CONNECT_THREADS,
) -> list[str]:
    """`count` companies, each with its own connected Gmail account; their company ids, in
    the order they were asked for. `lifted`: no quota in the sandbox, no pacing in mailroute."""
    oauth = GoogleOAuth(settings)
    companies = PostgresCompanies(pool)
    connections = PostgresConnections(pool, TokenCipher(settings.token_encryption_keys))

    with SandboxClient(settings.sandbox_base_url) as google:

        def connect_one(_: int) -> str:
            tag = uuid.uuid4().hex[:12]
            company = companies.create(f"Bench Gmail {tag} Ltd", f"billing+{tag}@bench.example")
            # The consent page makes the Google account on first sign-in, with Google's limits.
            account = f"bench.{tag}@acme-sandbox.test"
            record = connect_for_real(
                oauth,
                google,
                connections,
                company_id=company.id,
                account=account,
                connected_by=None,
            )
            if lifted:
                google.set_limits(
                    account,
                    quota_units_per_minute=UNLIMITED,
                    daily_send_limit=UNLIMITED,
                    max_concurrent_sends=1000,
                )
                connections.set_pacing_limits(
                    record.id,
                    sends_per_minute=UNLIMITED,
                    max_concurrent_sends=1000,
                    daily_cap=UNLIMITED,
                )
            return company.id

        with ThreadPoolExecutor(max_workers=max(1, min(threads, count))) as executor:
            return list(executor.map(connect_one, range(count)))
