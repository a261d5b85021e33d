"""What the sandbox handed out or was shown, per account, and every revocation asked of it.

`IssuedSecrets` keeps each authorization code, PKCE verifier, refresh, access and ID token of an
account, so a test can grep a product's logs for every one of them (the sandbox knows what it
issued). `RevocationLog` records each call to `/revoke`, answered or refused, so a test can
assert that Google was asked, with which token, and what it answered.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

from mailroute_sandbox import clock

SecretKind = Literal["codes", "code_verifiers", "refresh_tokens", "access_tokens", "id_tokens"]
SECRET_KINDS: tuple[SecretKind, ...] = (
    "codes",
    "code_verifiers",
    "refresh_tokens",
    "access_tokens",
    "id_tokens",
)


class IssuedSecrets:
    """Thread-safe: account -> kind -> values, in the order they were issued or presented."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[str, list[str]]] = {}

    def add(self, account: str | None, kind: SecretKind, value: str | None) -> None:
        if not value:
            return
        with self._lock:
            per_kind = self._values.setdefault((account or "unknown").lower(), defaultdict(list))
            if value not in per_kind[kind]:
                per_kind[kind].append(value)

    def of(self, account: str) -> dict[str, list[str]]:
        with self._lock:
            per_kind = self._values.get(account.lower(), {})
            return {kind: list(per_kind.get(kind, ())) for kind in SECRET_KINDS}

    def reset(self) -> None:
        with self._lock:
            self._values.clear()


@dataclass(frozen=True)
class Revocation:
    account: str | None
    token: str
    token_kind: str  # refresh_token, access_token, unknown
    status: int  # what the sandbox answered
    error: str | None
    at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "token": self.token,
            "token_kind": self.token_kind,
            "status": self.status,
            "error": self.error,
            "confirmed": self.status == 200,
            "at": clock.rfc3339(self.at),
        }


class RevocationLog:
    """Every `/revoke` call, in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Revocation] = []

    def record(
        self, account: str | None, token: str, token_kind: str, status: int, error: str | None
    ) -> None:
        call = Revocation(
            account.lower() if account else None, token, token_kind, status, error, clock.now()
        )
        with self._lock:
            self._calls.append(call)

    def calls(self, account: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                c.as_json()
                for c in self._calls
                if account is None or (c.account or "") == account.lower()
            ]

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
