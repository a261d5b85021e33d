"""A Microsoft connection's stored refresh credential: msal's serialized token cache (which
holds the refresh token, rotated on every use) and the account in it, as one JSON document,
encrypted at rest like a Google refresh token. Never logged."""

from __future__ import annotations

import json

from mailroute.adapters.microsoft.errors import EXPIRED
from mailroute.core.errors import MicrosoftAuthBrokenError


def pack_credential(cache: str, account_id: str) -> str:
    """A connection's stored refresh credential: msal's serialized cache and the account in it,
    as one JSON document (encrypted at rest like a Google refresh token)."""
    return json.dumps({"v": 1, "account_id": account_id, "cache": cache}, separators=(",", ":"))


def unpack_credential(credential: str) -> tuple[str, str]:
    """`(cache, account_id)` of a stored credential; MicrosoftAuthBrokenError when unreadable."""
    try:
        data = json.loads(credential)
        cache, account_id = data["cache"], data["account_id"]
    except (ValueError, TypeError, KeyError) as exc:
        raise MicrosoftAuthBrokenError(
            "the stored Microsoft authorization is unreadable", reason=EXPIRED
        ) from exc
    if not isinstance(cache, str) or not isinstance(account_id, str):
        raise MicrosoftAuthBrokenError(
            "the stored Microsoft authorization is unreadable", reason=EXPIRED
        )
    return cache, account_id
