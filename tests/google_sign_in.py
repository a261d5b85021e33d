"""Sign in with Google for real, without a browser: the sandbox's consent approved through its
control endpoint, the code exchanged by google-auth-oauthlib (PKCE, ID token verified), the
tokens stored encrypted. Used by the Gmail fixtures and by the bench."""

from __future__ import annotations

import uuid

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.google.oauth import GoogleOAuth
from mailroute.core.records import ConnectionRecord
from mailroute_sandbox.client import SandboxClient


def connect_for_real(
    oauth: GoogleOAuth,
    google: SandboxClient,
    connections: PostgresConnections,
    *,
    company_id: str,
    account: str,
    connected_by: str | None,
) -> ConnectionRecord:
    start = oauth.authorization_url(state=f"test-{uuid.uuid4().hex}", login_hint=account)
    approved = google.approve(start.url, account)
    granted = oauth.exchange_code(
        approved["code"], state=approved["state"], code_verifier=start.code_verifier
    )
    assert granted.refresh_token is not None
    record, _ = connections.connect(
        company_id,
        address=granted.identity.email,
        google_subject=granted.identity.subject,
        refresh_token=granted.refresh_token,
        access_token=granted.access_token,
        access_token_expires_at=granted.expires_at,
        scopes=granted.granted_scopes,
        connected_by=connected_by,
        refresh_expires_at=granted.refresh_expires_at,
    )
    return record
