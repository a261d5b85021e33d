"""Everything the sandbox remembers, in memory: one `SandboxState` per server, thread-safe.

It composes the account book, the OAuth grants (and the secrets issued and revocations asked,
for tests), the send limiter, the injected faults, the
counters, what each account "sent" through Gmail, open resumable upload sessions, the SMTP sink
and the Microsoft part (`microsoft`).
`reset()` puts it all back to the seeded defaults (registered redirect URIs are kept).
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mailroute_sandbox import clock
from mailroute_sandbox.accounts import AccountBook
from mailroute_sandbox.grants import GrantStore
from mailroute_sandbox.issued import IssuedSecrets, RevocationLog
from mailroute_sandbox.keys import SigningKeys
from mailroute_sandbox.limits import FaultQueue, SendLimiter
from mailroute_sandbox.microsoft.state import MicrosoftState
from mailroute_sandbox.mime import JsonDict, parsed_message
from mailroute_sandbox.smtp_sink import SmtpSink

DEFAULT_ACCESS_TOKEN_LIFETIME = 3599
TESTING_REFRESH_TOKEN_LIFETIME = 7 * 24 * 60 * 60
JSON_BODY_LIMIT = 5 * 1024 * 1024  # bytes of request body on the non-upload path
UPLOAD_LIMIT = 36_700_160  # 35 MiB, the discovery document's maxSize
COUNTER_NAMES = (
    "token_exchanges",
    "token_refreshes",
    "revokes",
    "sends",
    "rate_limited",
    "auth_failures",
    "send_errors",
    "token_refresh_failures",
    "revoke_failures",
)


@dataclass
class SandboxSettings:
    access_token_lifetime: int = DEFAULT_ACCESS_TOKEN_LIFETIME
    gmail_latency_ms: int = 0
    token_latency_ms: int = 0  # every /token answer waits this long (a slow Google)
    testing_mode: bool = False
    # How long a refresh token of a project in testing mode lives (Google: 7 days).
    refresh_token_lifetime_seconds: int = TESTING_REFRESH_TOKEN_LIFETIME
    json_body_limit: int = JSON_BODY_LIMIT

    def as_json(self) -> dict[str, Any]:
        return {
            "access_token_lifetime": self.access_token_lifetime,
            "gmail_latency_ms": self.gmail_latency_ms,
            "token_latency_ms": self.token_latency_ms,
            "testing_mode": self.testing_mode,
            "refresh_token_lifetime_seconds": self.refresh_token_lifetime_seconds,
            "json_body_limit": self.json_body_limit,
            "upload_limit": UPLOAD_LIMIT,
        }


class Counters:
    """Per-account event counts, plus the number of injected errors."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._counts: dict[str, defaultdict[str, int]] = {
                name: defaultdict(int) for name in COUNTER_NAMES
            }
            self._errors_injected = 0

    def bump(self, name: str, account: str | None) -> None:
        with self._lock:
            self._counts[name][(account or "unknown").lower()] += 1

    def injected(self) -> None:
        with self._lock:
            self._errors_injected += 1

    def as_json(self) -> dict[str, Any]:
        with self._lock:
            found: dict[str, Any] = {name: dict(per) for name, per in self._counts.items()}
            found["errors_injected"] = self._errors_injected
            found["totals"] = {name: sum(per.values()) for name, per in self._counts.items()}
        return found


@dataclass
class SentMessage:
    gmail_id: str
    thread_id: str
    upload_type: str
    account: str
    raw: bytes
    rcpt_tos: list[str]
    bcc: list[str]
    received_at: str

    def as_json(self, *, include_content: bool = True) -> JsonDict:
        return {
            "id": self.gmail_id,
            "gmail_id": self.gmail_id,
            "thread_id": self.thread_id,
            "upload_type": self.upload_type,
            "received_at": self.received_at,
            "mail_from": self.account,
            "rcpt_tos": list(self.rcpt_tos),
            "bcc": list(self.bcc),
            **parsed_message(self.raw, include_content=include_content),
        }


class GmailMailbox:
    """What each account sent through the Gmail API, in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: list[SentMessage] = []
        self._seq = itertools.count()

    def new_id(self) -> str:
        """16 hex digits, increasing like Gmail's (milliseconds shifted, plus a sequence)."""
        millis = int(clock.now() * 1000)
        return f"{(millis << 20) + (next(self._seq) & 0xFFFFF):016x}"

    def record(self, message: SentMessage) -> None:
        with self._lock:
            self._sent.append(message)

    def sent(self, account: str | None) -> list[SentMessage]:
        with self._lock:
            return [m for m in self._sent if account is None or m.account == account.lower()]

    def reset(self) -> None:
        with self._lock:
            self._sent.clear()


@dataclass
class UploadSession:
    id: str
    account: str
    metadata: dict[str, Any]
    total: int | None
    data: bytearray = field(default_factory=bytearray)
    created_at: float = field(default_factory=clock.now)


class SandboxState:
    """The root of the sandbox's memory; routes receive it through the app."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: Sequence[str],
        smtp_keep: int | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self._lock = threading.Lock()
        self._redirect_uris: set[str] = set(redirect_uris)
        self.keys = SigningKeys()
        self.accounts = AccountBook()
        self.grants = GrantStore()
        self.issued = IssuedSecrets()
        self.revocations = RevocationLog()
        self.limiter = SendLimiter()
        self.faults = FaultQueue()
        self.counters = Counters()
        self.mailbox = GmailMailbox()
        self.smtp = SmtpSink(smtp_keep)
        self.settings = SandboxSettings()
        self.sessions: dict[str, UploadSession] = {}
        self.microsoft = MicrosoftState(self.redirect_uris)

    def redirect_uri_allowed(self, uri: str) -> bool:
        with self._lock:
            return uri in self._redirect_uris

    def add_redirect_uris(self, uris: Sequence[str]) -> list[str]:
        with self._lock:
            self._redirect_uris.update(uris)
            return sorted(self._redirect_uris)

    def redirect_uris(self) -> list[str]:
        with self._lock:
            return sorted(self._redirect_uris)

    def client_ok(self, client_id: str | None, client_secret: str | None) -> bool:
        return client_id == self.client_id and client_secret == self.client_secret

    def open_session(self, session: UploadSession) -> None:
        with self._lock:
            self.sessions[session.id] = session

    def session(self, upload_id: str) -> UploadSession | None:
        with self._lock:
            return self.sessions.get(upload_id)

    def close_session(self, upload_id: str) -> None:
        with self._lock:
            self.sessions.pop(upload_id, None)

    def reset(self) -> None:
        """Back to the seeded state: accounts, tokens, limits, faults, counters, both mailboxes."""
        self.accounts.reset()
        self.grants.reset()
        self.issued.reset()
        self.revocations.reset()
        self.limiter.reset()
        self.faults.reset()
        self.counters.reset()
        self.mailbox.reset()
        self.smtp.reset()
        self.settings = SandboxSettings()
        self.microsoft.reset()
        with self._lock:
            self.sessions.clear()
