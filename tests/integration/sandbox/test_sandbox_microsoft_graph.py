"""Graph mail sending in the sandbox: sendMail with base64 MIME, drafts, upload sessions for large
attachments, and Microsoft's refusals, over real HTTPS with requests."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import pytest
from microsoft_flows import OWNER, Microsoft, graph_error, mime_message

TWENTY_MB = 20 * 1024 * 1024
CHUNK = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def twenty_mb() -> bytes:
    return os.urandom(TWENTY_MB)


def _draft(microsoft: Microsoft, token: str, raw: bytes) -> str:
    created = microsoft.graph("POST", "/me/messages", token, body=base64.b64encode(raw))
    assert created.status_code == 201
    assert created.json()["isDraft"] is True
    return str(created.json()["id"])


def _upload_session(
    microsoft: Microsoft, token: str, draft: str, name: str, size: int
) -> dict[str, Any]:
    item = {"attachmentType": "file", "name": name, "size": size, "contentType": "application/pdf"}
    answer: dict[str, Any] = microsoft.graph(
        "POST",
        f"/me/messages/{draft}/attachments/createUploadSession",
        token,
        json={"AttachmentItem": item},
    ).json()
    return answer


def test_send_mail_answers_202_and_the_message_reads_back_byte_for_byte(
    microsoft: Microsoft,
) -> None:
    pdf = os.urandom(200_000)
    raw = mime_message(attachments={"invoice-42.pdf": pdf})

    sent = microsoft.send_mime(microsoft.token(), raw)

    assert sent.status_code == 202
    assert sent.content == b""
    [recorded] = microsoft.controls.ms_sent(OWNER)
    assert base64.b64decode(recorded["raw_base64"]) == raw
    assert recorded["via"] == "sendMail"
    assert recorded["subject"] == "Invoice 42"
    assert recorded["to"] == ["customer@example.test"]
    assert recorded["message_id"] == "<invoice-42@mailroute.test>"
    [attachment] = recorded["attachments"]
    assert attachment["filename"] == "invoice-42.pdf"
    assert attachment["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert microsoft.controls.ms_counters()["sends"] == {OWNER: 1}


def test_a_20_mb_attachment_goes_through_a_draft_and_an_upload_session_byte_identical(
    microsoft: Microsoft, twenty_mb: bytes
) -> None:
    token = microsoft.token()
    draft = _draft(microsoft, token, mime_message(subject="Large invoice"))
    session = _upload_session(microsoft, token, draft, "scan.pdf", len(twenty_mb))
    assert session["nextExpectedRanges"] == ["0-"]

    answers = []
    for start in range(0, len(twenty_mb), CHUNK):
        chunk = twenty_mb[start : start + CHUNK]
        content_range = f"bytes {start}-{start + len(chunk) - 1}/{len(twenty_mb)}"
        answers.append(
            microsoft.http.put(
                session["uploadUrl"], data=chunk, headers={"Content-Range": content_range}
            )
        )
    sent = microsoft.graph("POST", f"/me/messages/{draft}/send", token)

    assert [a.status_code for a in answers] == [200] * 4 + [201]
    assert answers[0].json()["nextExpectedRanges"] == [str(CHUNK)]
    assert f"/Messages('{draft}')/Attachments(" in answers[-1].headers["Location"]
    assert sent.status_code == 202
    [recorded] = microsoft.controls.ms_sent(OWNER, content=False)
    assert recorded["via"] == "draft"
    assert recorded["subject"] == "Large invoice"
    [attachment] = recorded["attachments"]
    assert (attachment["filename"], attachment["size"]) == ("scan.pdf", TWENTY_MB)
    assert attachment["sha256"] == hashlib.sha256(twenty_mb).hexdigest()
    assert microsoft.graph("POST", f"/me/messages/{draft}/send", token).status_code == 404


def test_an_upload_session_refuses_chunks_over_4_mb_out_of_order_and_small_files(
    microsoft: Microsoft,
) -> None:
    token = microsoft.token()
    draft = _draft(microsoft, token, mime_message())
    size = 5 * 1024 * 1024
    url = _upload_session(microsoft, token, draft, "a.pdf", size)["uploadUrl"]

    too_big = microsoft.http.put(
        url, data=b"x" * size, headers={"Content-Range": f"bytes 0-{size - 1}/{size}"}
    )
    skipped = microsoft.http.put(
        url, data=b"x" * 10, headers={"Content-Range": f"bytes 100-109/{size}"}
    )
    small = microsoft.graph(
        "POST",
        f"/me/messages/{draft}/attachments/createUploadSession",
        token,
        json={"AttachmentItem": {"attachmentType": "file", "name": "s.pdf", "size": 1000}},
    )

    assert too_big.status_code == 413
    assert skipped.status_code == 416
    assert small.status_code == 400
    assert graph_error(small)[0] == "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"


def test_a_from_that_is_not_the_mailbox_is_refused_with_send_as_denied(
    microsoft: Microsoft,
) -> None:
    token = microsoft.token()
    microsoft.controls.ms_set_limits(OWNER, aliases=["sales@contoso-sandbox.test"])

    refused = microsoft.send_mime(token, mime_message(sender="ceo@contoso-sandbox.test"))
    alias = microsoft.send_mime(token, mime_message(sender="sales@contoso-sandbox.test"))

    assert refused.status_code == 403
    assert graph_error(refused)[0] == "ErrorSendAsDenied"
    assert alias.status_code == 202
    assert len(microsoft.controls.ms_sent(OWNER)) == 1


def test_a_mailbox_not_enabled_for_rest_answers_404(microsoft: Microsoft) -> None:
    token = microsoft.token()
    microsoft.controls.ms_set_limits(OWNER, mail_enabled=False)

    refused = microsoft.send_mime(token, mime_message())

    assert refused.status_code == 404
    assert graph_error(refused) == (
        "MailboxNotEnabledForRESTAPI",
        "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
    )


def test_a_body_that_is_not_base64_answers_400(microsoft: Microsoft) -> None:
    refused = microsoft.graph("POST", "/me/sendMail", microsoft.token(), body=b"not base64 !!")

    assert refused.status_code == 400
    assert graph_error(refused) == (
        "ErrorMimeContentInvalidBase64String",
        "Invalid base64 string for MIME content.",
    )


def test_a_token_without_mail_send_is_denied(microsoft: Microsoft) -> None:
    token = microsoft.token(scopes=["User.Read"])

    refused = microsoft.send_mime(token, mime_message())

    assert refused.status_code == 403
    assert graph_error(refused) == (
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    )


def test_an_inline_request_over_4_mb_answers_413(microsoft: Microsoft) -> None:
    raw = mime_message(attachments={"big.pdf": os.urandom(3_500_000)})

    refused = microsoft.send_mime(microsoft.token(), raw)

    assert refused.status_code == 413
    assert refused.json()["error"]["message"] == "The maximum request length supported is 4MB."
    assert microsoft.controls.ms_sent(OWNER) == []


def test_a_missing_or_expired_token_answers_401_invalid_authentication_token(
    microsoft: Microsoft,
) -> None:
    token = microsoft.token()
    microsoft.controls.ms_expire_access_tokens(OWNER)

    expired = microsoft.send_mime(token, mime_message())
    missing = microsoft.http.post(microsoft.graph_root + "/me/sendMail", data=b"eA==")

    assert expired.status_code == 401
    assert graph_error(expired)[0] == "InvalidAuthenticationToken"
    assert missing.status_code == 401
    assert "WWW-Authenticate" in missing.headers


def test_drafts_need_mail_readwrite_when_the_sandbox_is_told_to_be_strict_as_microsoft(
    microsoft: Microsoft,
) -> None:
    send_only = microsoft.token()
    read_write = microsoft.token(scopes=["Mail.Send", "Mail.ReadWrite"])
    microsoft.controls.ms_settings(drafts_need_mail_readwrite=True)
    body = base64.b64encode(mime_message())

    refused = microsoft.graph("POST", "/me/messages", send_only, body=body)
    allowed = microsoft.graph("POST", "/me/messages", read_write, body=body)

    assert refused.status_code == 403
    assert graph_error(refused)[0] == "ErrorAccessDenied"
    assert allowed.status_code == 201
