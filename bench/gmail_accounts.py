"""Connected Gmail accounts for the bench: companies whose Gmail is connected for real through
the sandbox (consent approved without a browser, the code exchanged by google-auth-oauthlib,
tokens stored encrypted), with quotas and pacing lifted so that the pipeline, not Google's
per-user quota, is what the bench measures."""

from __future__ import annotations

import uuid

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.google.oauth import GoogleOAuth
from mailroute.config.settings import Settings
from mailroute_sandbox.client import SandboxClient
from tests.google_sign_in import connect_for_real

UNLIMITED = 10_000_000


def connect_accounts(settings: Settings, pool: Pool, count: int) -> list[str]:
    """`count` companies, each with its own connected Gmail account; their company ids."""
    oauth = GoogleOAuth(settings)
    companies = PostgresCompanies(pool)
    connections = PostgresConnections(pool, TokenCipher(settings.token_encryption_keys))
    ids = []
    with SandboxClient(settings.sandbox_base_url) as google:
        for _ in range(count):
            tag = uuid.uuid4().hex[:8]
            company = companies.create(f"Bench Gmail {tag} Ltd", f"billing+{tag}@bench.example")
            account = f"bench.{tag}@acme-sandbox.test"
            google.add_account(account, name=f"Bench {tag}")
            google.set_limits(
                account,
                quota_units_per_minute=UNLIMITED,
                daily_send_limit=UNLIMITED,
                max_concurrent_sends=1000,
            )
            record = connect_for_real(
                oauth,
                google,
                connections,
                company_id=company.id,
                account=account,
                connected_by=None,
            )
            connections.set_pacing_limits(
                record.id,
                sends_per_minute=UNLIMITED,
                max_concurrent_sends=1000,
                daily_cap=UNLIMITED,
            )
            ids.append(company.id)
    return ids
