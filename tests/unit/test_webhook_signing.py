"""Our own Standard Webhooks signing, checked only by the `standardwebhooks` library receivers
use: the headers, the body, and the two signatures of a rotation's overlap."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from mailroute.core import webhook_signing as signing

DATA = {"type": "EmailSent", "schema_version": 1, "email_id": "e1", "subject": "Fäktura 42"}
WHEN = datetime(2026, 1, 5, 9, 30, 0, 123456, tzinfo=UTC)


def _signed(secrets: list[str], msg_id: str = "msg_d1") -> tuple[bytes, dict[str, str]]:
    body = signing.body("email.sent", WHEN, DATA)
    return body, signing.headers(secrets, msg_id, int(time.time()), body)


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = signing.new_secret(), signing.new_secret()
    assert first.startswith("whsec_")
    assert len(signing.secret_key(first)) == 32
    assert first != second


def test_the_body_holds_type_timestamp_and_the_event_as_data() -> None:
    body = json.loads(signing.body("email.sent", WHEN, DATA))
    assert body == {"type": "email.sent", "timestamp": "2026-01-05T09:30:00.123456Z", "data": DATA}


def test_the_body_is_the_same_bytes_every_time() -> None:
    assert signing.body("email.sent", WHEN, DATA) == signing.body("email.sent", WHEN, dict(DATA))


def test_a_receiver_verifies_the_signature_with_the_standardwebhooks_library() -> None:
    secret = signing.new_secret()
    body, headers = _signed([secret])
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == json.loads(body)


def test_another_secret_or_a_changed_body_does_not_verify() -> None:
    secret = signing.new_secret()
    body, headers = _signed([secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"42", b"43"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "msg_other"})


def test_during_an_overlap_both_the_new_and_the_old_secret_verify() -> None:
    new, old = signing.new_secret(), signing.new_secret()
    body, headers = _signed([new, old])
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
    assert Webhook(new).verify(body, headers)
    assert Webhook(old).verify(body, headers)


def test_after_the_overlap_only_the_new_secret_verifies() -> None:
    new, old = signing.new_secret(), signing.new_secret()
    body, headers = _signed([new])
    assert Webhook(new).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, headers)


def test_the_webhook_id_names_the_delivery() -> None:
    assert signing.message_id("8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d") == (
        "msg_8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    )


def test_a_webhook_is_never_sent_unsigned() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        signing.headers([], "msg_d1", 1, b"{}")
