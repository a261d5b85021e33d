"""Standard Webhooks signing (https://www.standardwebhooks.com, spec/standard-webhooks.md):
the body, the three `webhook-*` headers and the symmetric `v1` signature.

- `webhook-id`: `msg_<delivery id>`, the same for every attempt and replay of a delivery, so a
  receiver de-duplicates on it;
- `webhook-timestamp`: the attempt's time, integer seconds since the epoch;
- `webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
  secret's bytes (`whsec_<base64>`, 32 random bytes); during a rotation's overlap one signature
  per secret, space-separated, the newest first.

The body is `{"type", "timestamp", "data"}`: the routing key, when the event happened (RFC 3339,
UTC) and the event as published on the exchange; written compactly, the same bytes every time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32
MESSAGE_ID_PREFIX = "msg_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_…` secret stands for."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def message_id(delivery_id: str) -> str:
    return MESSAGE_ID_PREFIX + delivery_id


def body(event_type: str, occurred_at: datetime, data: dict[str, Any]) -> bytes:
    stamp = occurred_at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    document = {"type": event_type, "timestamp": stamp, "data": data}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, msg_id: str, timestamp: int, payload: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(
    signing_secrets: Sequence[str], msg_id: str, timestamp: int, payload: bytes
) -> dict[str, str]:
    """The `webhook-*` headers of one attempt, signed with each secret (newest first)."""
    if not signing_secrets:
        raise ValueError("a webhook is signed with at least one secret")
    signatures = " ".join(sign(s, msg_id, timestamp, payload) for s in signing_secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }
