"""users.messages.send against the sandbox through google-api-python-client, every upload path."""

from __future__ import annotations

import hashlib
import io
import os

import google_auth_httplib2
import httplib2
import httpx
import pytest
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload
from sandbox_targets import (
    GMAIL_SEND,
    OWNER,
    Target,
    connect,
    error_message,
    error_reason,
    gmail_service,
    message_bytes,
    new_http,
    raw_field,
)

from mailroute_sandbox.client import SandboxClient

TEN_MB = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def ten_mb() -> bytes:
    return os.urandom(TEN_MB)


def _send_raw(service: object, raw: bytes, *, padded: bool = True) -> dict[str, object]:
    body = {"raw": raw_field(raw, padded=padded)}
    sent: dict[str, object] = service.users().messages().send(userId="me", body=body).execute()  # type: ignore[attr-defined]
    return sent


def _send_upload(
    service: object,
    raw: bytes,
    *,
    resumable: bool,
    metadata: dict[str, str] | None = None,
    chunksize: int = 100 * 1024 * 1024,
) -> dict[str, object]:
    media = MediaIoBaseUpload(
        io.BytesIO(raw), mimetype="message/rfc822", resumable=resumable, chunksize=chunksize
    )
    request = service.users().messages().send(userId="me", body=metadata, media_body=media)  # type: ignore[attr-defined]
    sent: dict[str, object] = request.execute()
    return sent


@pytest.mark.parametrize("padded", [True, False])
def test_a_json_raw_send_answers_like_gmail_and_is_recorded(
    sandbox: SandboxClient, target_sandbox: Target, padded: bool
) -> None:
    service = gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root)

    sent = _send_raw(service, message_bytes(subject="Invoice ="), padded=padded)

    assert set(sent) == {"id", "threadId", "labelIds"}
    assert len(str(sent["id"])) == 16
    assert sent["threadId"] == sent["id"]
    assert sent["labelIds"] == ["SENT"]
    [recorded] = sandbox.gmail_sent(OWNER)
    assert recorded["gmail_id"] == sent["id"]
    assert recorded["upload_type"] == "json"
    assert recorded["subject"] == "Invoice ="
    assert recorded["rcpt_tos"] == ["customer@example.test"]
    assert sandbox.counters()["sends"] == {OWNER: 1}


@pytest.mark.parametrize(
    ("resumable", "metadata", "upload_type"),
    [
        (False, None, "media"),
        (False, {"threadId": "18c0ffee00000001"}, "multipart"),
        (True, None, "resumable"),
    ],
)
def test_each_upload_type_delivers_a_10_mb_attachment_intact(
    sandbox: SandboxClient,
    target_sandbox: Target,
    ten_mb: bytes,
    resumable: bool,
    metadata: dict[str, str] | None,
    upload_type: str,
) -> None:
    service = gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root)

    sent = _send_upload(
        service, message_bytes(attachment=ten_mb), resumable=resumable, metadata=metadata
    )

    [recorded] = sandbox.gmail_sent(OWNER, content=False)
    assert recorded["upload_type"] == upload_type
    assert recorded["thread_id"] == (metadata or {}).get("threadId", sent["id"])
    [attachment] = recorded["attachments"]
    assert attachment["size"] == TEN_MB
    assert attachment["sha256"] == hashlib.sha256(ten_mb).hexdigest()


def test_a_chunked_resumable_upload_goes_through_308_resume_incomplete(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    service = gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root)
    pdf = os.urandom(900 * 1024)

    _send_upload(service, message_bytes(attachment=pdf), resumable=True, chunksize=256 * 1024)

    [recorded] = sandbox.gmail_sent(OWNER, content=False)
    assert recorded["attachments"][0]["sha256"] == hashlib.sha256(pdf).hexdigest()


def test_a_bare_httplib2_http_mistakes_the_resumable_308_for_a_redirect(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox)
    bare = httplib2.Http(timeout=10)  # without build_http's `redirect_codes - {308}`
    media = MediaIoBaseUpload(
        io.BytesIO(message_bytes(attachment=os.urandom(600 * 1024))),
        mimetype="message/rfc822",
        resumable=True,
        chunksize=256 * 1024,
    )
    service = gmail_service(creds, target_sandbox.gmail_root)
    request = service.users().messages().send(userId="me", media_body=media)

    try:
        with pytest.raises(httplib2.RedirectMissingLocation):
            request.execute(http=google_auth_httplib2.AuthorizedHttp(creds, http=bare))
    finally:
        bare.close()
    assert sandbox.gmail_sent() == []


def test_a_10_mb_attachment_on_the_json_path_is_refused_with_413(
    sandbox: SandboxClient, target_sandbox: Target, ten_mb: bytes
) -> None:
    service = gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root)

    with pytest.raises(HttpError) as refused:
        _send_raw(service, message_bytes(attachment=ten_mb))

    assert refused.value.status_code == 413
    assert error_reason(refused.value) == "uploadTooLarge"
    assert sandbox.gmail_sent() == []


def test_a_missing_authorization_header_gets_401_required(target_sandbox: Target) -> None:
    response = httpx.post(
        target_sandbox.gmail_root + "gmail/v1/users/me/messages/send", json={"raw": "eA"}
    )

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["errors"][0]["reason"] == "required"
    assert error["status"] == "UNAUTHENTICATED"
    assert error["details"][0]["reason"] == "CREDENTIALS_MISSING"


def test_an_invalid_access_token_gets_401_auth_error_parsed_by_http_error(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = Credentials(token="ya29.not-a-token")
    authed = google_auth_httplib2.AuthorizedHttp(creds, http=new_http(), refresh_status_codes=())
    service = gmail_service(creds, target_sandbox.gmail_root)
    request = service.users().messages().send(userId="me", body={"raw": raw_field(message_bytes())})

    with pytest.raises(HttpError) as refused:
        request.execute(http=authed)

    assert refused.value.status_code == 401
    assert error_reason(refused.value) == "authError"
    assert refused.value.reason.startswith("Request had invalid authentication credentials.")


def test_an_expired_access_token_is_refreshed_and_the_send_retried(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox)
    service = gmail_service(creds, target_sandbox.gmail_root)
    old_token = creds.token
    sandbox.expire_access_tokens(OWNER)

    _send_raw(service, message_bytes())

    assert creds.token != old_token
    counters = sandbox.counters()
    assert counters["token_refreshes"] == {OWNER: 1}
    assert counters["auth_failures"] == {OWNER: 1}
    assert counters["sends"] == {OWNER: 1}


def test_a_send_after_the_user_revoked_access_raises_refresh_error_invalid_grant(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    service = gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root)
    sandbox.user_revokes(OWNER)

    with pytest.raises(RefreshError) as refused:
        _send_raw(service, message_bytes())

    assert refused.value.args[1]["error"] == "invalid_grant"


def test_a_token_without_gmail_send_gets_403_insufficient_permissions(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    service = gmail_service(
        connect(sandbox, target_sandbox, grant_send=False), target_sandbox.gmail_root
    )

    with pytest.raises(HttpError) as refused:
        _send_raw(service, message_bytes())

    assert refused.value.status_code == 403
    assert error_reason(refused.value) == "insufficientPermissions"
    assert refused.value.reason == "Request had insufficient authentication scopes."
    assert refused.value.error_details[0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


def test_removing_the_scope_from_a_live_token_makes_the_next_send_403(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    service = gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root)
    _send_raw(service, message_bytes())
    sandbox.set_scopes(["openid", "email"], account=OWNER)

    with pytest.raises(HttpError) as refused:
        _send_raw(service, message_bytes())
    assert error_reason(refused.value) == "insufficientPermissions"


@pytest.mark.parametrize(
    ("to", "message"),
    [("", "Recipient address required"), ("not an address", "Invalid To header")],
)
def test_a_bad_recipient_gets_400_invalid_argument(
    sandbox: SandboxClient, target_sandbox: Target, to: str, message: str
) -> None:
    service = gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root)

    with pytest.raises(HttpError) as refused:
        _send_raw(service, message_bytes(to))

    assert refused.value.status_code == 400
    assert error_reason(refused.value) == "invalidArgument"
    assert error_message(refused.value) == message


def test_a_body_without_raw_gets_400_bad_request(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    service = gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root)

    with pytest.raises(HttpError) as refused:
        service.users().messages().send(userId="me", body={"threadId": "x"}).execute()

    assert error_reason(refused.value) == "badRequest"
    assert "'raw' RFC822 payload" in error_message(refused.value)


def test_a_from_that_is_not_the_account_is_rewritten_keeping_the_display_name(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    service = gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root)

    _send_raw(service, message_bytes(sender="Acme Billing <someone-else@acme.test>"))
    _send_raw(service, message_bytes(sender=None))

    rewritten, filled = sandbox.gmail_sent(OWNER)
    assert rewritten["from"] == f"Acme Billing <{OWNER}>"
    assert filled["from"] == f"Acme Owner <{OWNER}>"
    assert filled["message_id"].endswith("@mail.gmail.com>")


def test_a_verified_alias_in_from_is_kept(sandbox: SandboxClient, target_sandbox: Target) -> None:
    sandbox.set_limits(OWNER, aliases=["invoices@acme.test"])
    service = gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root)

    _send_raw(service, message_bytes(sender="Invoices <invoices@acme.test>"))

    assert sandbox.gmail_sent(OWNER)[0]["from"] == "Invoices <invoices@acme.test>"


def test_bcc_recipients_get_the_mail_but_not_the_header(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    service = gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root)

    _send_raw(service, message_bytes(extra_headers={"Bcc": "hidden@example.test"}))

    [recorded] = sandbox.gmail_sent(OWNER)
    assert recorded["rcpt_tos"] == ["customer@example.test", "hidden@example.test"]
    assert recorded["bcc"] == ["hidden@example.test"]
    assert "Bcc" not in recorded["headers"]


def test_user_id_may_be_the_account_address_but_not_another(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    service = gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root)
    body = {"raw": raw_field(message_bytes())}

    service.users().messages().send(userId=OWNER, body=body).execute()
    with pytest.raises(HttpError) as refused:
        service.users().messages().send(userId="other@example.test", body=body).execute()

    assert refused.value.status_code == 403


def test_a_gmail_send_token_cannot_read_the_profile(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    service = gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root)

    with pytest.raises(HttpError) as refused:
        service.users().getProfile(userId="me").execute()

    assert error_reason(refused.value) == "insufficientPermissions"


def test_the_discovery_document_root_moves_the_upload_path_too(target_sandbox: Target) -> None:
    service = gmail_service(Credentials(token="x"), target_sandbox.gmail_root)
    media = MediaIoBaseUpload(io.BytesIO(b"x"), mimetype="message/rfc822", resumable=False)

    request = service.users().messages().send(userId="me", media_body=media)

    assert request.uri.startswith(target_sandbox.gmail_root + "upload/gmail/v1/")
    assert GMAIL_SEND  # the send scope constant the app requests
    assert build_from_document  # the builder the app uses with a moved root
