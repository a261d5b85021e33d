"""The shared contract: the same assertions against the sandbox and, with GOOGLE_CONTRACT_*
credentials, against real Google (`-m google`), so the sandbox can be re-validated where Google
is reachable. Real-Google runs send mail to GOOGLE_CONTRACT_ACCOUNT itself.

    GOOGLE_CONTRACT_CLIENT_ID=... GOOGLE_CONTRACT_CLIENT_SECRET=... \\
    GOOGLE_CONTRACT_REFRESH_TOKEN=... GOOGLE_CONTRACT_ACCOUNT=me@example.com \\
    .venv/bin/pytest tests/integration/sandbox -m google
"""

from __future__ import annotations

import io
import os
import uuid
from dataclasses import dataclass
from typing import Any

import google_auth_httplib2
import httpx
import pytest
from google.auth.exceptions import RefreshError
from google.oauth2 import id_token
from google.oauth2.credentials import Credentials
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload
from sandbox_targets import (
    OWNER,
    Target,
    connect,
    error_message,
    error_reason,
    gmail_service,
    message_bytes,
    new_http,
    raw_field,
    token_request,
)

from mailroute_sandbox.client import SandboxClient


@dataclass(frozen=True)
class Connected:
    target: Target
    creds: Credentials
    account: str


@pytest.fixture
def connected(request: pytest.FixtureRequest, target: Target) -> Connected:
    """Refreshable credentials for one account of the target."""
    if target.name == "sandbox":
        sandbox: SandboxClient = request.getfixturevalue("sandbox")
        first = connect(sandbox, target)
        return Connected(target, target.credentials(first.refresh_token), OWNER)
    creds = target.credentials(os.environ["GOOGLE_CONTRACT_REFRESH_TOKEN"])
    return Connected(target, creds, os.environ["GOOGLE_CONTRACT_ACCOUNT"])


def _service(connected: Connected) -> Any:
    return gmail_service(connected.creds, connected.target.gmail_root, timeout=30)


def test_refresh_gives_a_bearer_token_and_keeps_the_refresh_token(connected: Connected) -> None:
    refresh_token = connected.creds.refresh_token

    connected.creds.refresh(token_request())

    assert connected.creds.valid
    assert connected.creds.refresh_token == refresh_token


def test_the_refreshed_id_token_verifies_and_names_the_account(connected: Connected) -> None:
    connected.creds.refresh(token_request())
    if connected.creds.id_token is None:
        pytest.skip("this grant has no openid scope, so refresh returns no id_token")

    claims = id_token.verify_token(
        connected.creds.id_token,
        token_request(),
        audience=connected.target.client_id,
        certs_url=connected.target.certs_url,
    )

    assert claims["iss"] in ("https://accounts.google.com", "accounts.google.com")
    assert claims["email"].lower() == connected.account.lower()


def test_a_garbage_refresh_token_is_refused_with_invalid_grant(target: Target) -> None:
    with pytest.raises(RefreshError) as refused:
        target.credentials("1//0garbage" + uuid.uuid4().hex).refresh(token_request())

    assert refused.value.args[1]["error"] == "invalid_grant"
    assert refused.value.retryable is False


def test_revoking_an_unknown_token_answers_400_invalid_token(target: Target) -> None:
    response = httpx.post(target.revoke_uri, data={"token": "not-a-token-" + uuid.uuid4().hex})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_token"


def test_a_json_send_answers_with_id_thread_id_and_the_sent_label(connected: Connected) -> None:
    raw = message_bytes(connected.account, sender=connected.account, subject="contract: json")

    sent = (
        _service(connected)
        .users()
        .messages()
        .send(userId="me", body={"raw": raw_field(raw, padded=False)})
        .execute()
    )

    assert len(sent["id"]) == 16
    assert sent["threadId"] == sent["id"]
    assert "SENT" in sent["labelIds"]


def test_a_media_upload_send_answers_like_a_json_send(connected: Connected) -> None:
    raw = message_bytes(connected.account, sender=connected.account, subject="contract: media")
    media = MediaIoBaseUpload(io.BytesIO(raw), mimetype="message/rfc822", resumable=False)

    sent = _service(connected).users().messages().send(userId="me", media_body=media).execute()

    assert "SENT" in sent["labelIds"]


def test_a_message_without_recipients_gets_400_recipient_address_required(
    connected: Connected,
) -> None:
    raw = message_bytes("", sender=connected.account)

    with pytest.raises(HttpError) as refused:
        _service(connected).users().messages().send(
            userId="me", body={"raw": raw_field(raw)}
        ).execute()

    assert refused.value.status_code == 400
    assert error_message(refused.value) == "Recipient address required"


def test_an_invalid_access_token_gets_401_with_reason_auth_error(target: Target) -> None:
    creds = Credentials(token="ya29.invalid-" + uuid.uuid4().hex)
    authed = google_auth_httplib2.AuthorizedHttp(creds, http=new_http(), refresh_status_codes=())
    service = gmail_service(creds, target.gmail_root)
    request = service.users().messages().send(userId="me", body={"raw": raw_field(b"x")})

    with pytest.raises(HttpError) as refused:
        request.execute(http=authed)

    assert refused.value.status_code == 401
    assert error_reason(refused.value) == "authError"
