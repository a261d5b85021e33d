"""Everything the Microsoft part remembers, in memory and thread-safe: accounts, tokens, the
mailbox limiter and injected throttles, drafts and the sent list, sign-outs, counters, settings.
`reset()` puts it back to the seeded defaults (the parent `SandboxState.reset` calls it).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mailroute_sandbox import clock
from mailroute_sandbox.keys import SigningKeys
from mailroute_sandbox.microsoft import MICROSOFT_SANDBOX_CLIENT_ID, MICROSOFT_SANDBOX_CLIENT_SECRET
from mailroute_sandbox.microsoft.accounts import MsAccountBook
from mailroute_sandbox.microsoft.limits import MailboxLimiter, ThrottleQueue
from mailroute_sandbox.microsoft.mailbox import OutlookMailboxes
from mailroute_sandbox.microsoft.tokens import MsTokenStore

COUNTER_NAMES = (
    "token_exchanges",
    "token_refreshes",
    "refresh_failures",
    "sends",
    "throttled",
    "sign_outs",
    "auth_failures",
    "send_errors",
)
GOOGLE_CALLBACK = "/oauth/google/callback"
MICROSOFT_CALLBACK = "/oauth/microsoft/callback"


@dataclass
class MsSettings:
    access_token_lifetime_seconds: int = 3599
    refresh_token_lifetime_seconds: int = 90 * 24 * 60 * 60
    invalidate_rotated_refresh_tokens: bool = False
    graph_latency_ms: int = 0
    # Real Graph asks Mail.ReadWrite to create a draft or an upload session (user-post-messages,
    # attachment-createuploadsession); the contract lets Mail.Send do it. True: as Microsoft.
    drafts_need_mail_readwrite: bool = False
    # The contract answers Graph scopes with the resource prefix; Microsoft's own token-response
    # samples show short names ("User.Read profile openid email"). True: short names.
    short_graph_scopes: bool = False

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MsCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, defaultdict[str, int]] = {}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._counts = {name: defaultdict(int) for name in COUNTER_NAMES}

    def bump(self, name: str, account: str | None) -> None:
        with self._lock:
            self._counts[name][(account or "unknown").lower()] += 1

    def as_json(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: dict(per) for name, per in self._counts.items()}


class MicrosoftState:
    """The root of the Microsoft part's memory (`SandboxState.microsoft`)."""

    def __init__(self, redirect_uris: Callable[[], list[str]]) -> None:
        self.client_id = MICROSOFT_SANDBOX_CLIENT_ID
        self.client_secret = MICROSOFT_SANDBOX_CLIENT_SECRET
        self._redirect_uris = redirect_uris
        self._lock = threading.Lock()
        self._keys: SigningKeys | None = None
        self.ca_pem: bytes | None = None  # set when the TLS listener starts
        self.accounts = MsAccountBook()
        self.tokens = MsTokenStore()
        self.limiter = MailboxLimiter()
        self.throttles = ThrottleQueue()
        self.mailboxes = OutlookMailboxes()
        self.counters = MsCounters()
        self.settings = MsSettings()
        self._sign_outs: list[dict[str, Any]] = []

    @property
    def keys(self) -> SigningKeys:
        """The ID-token signing key, made on first use (so a Google-only sandbox never pays)."""
        with self._lock:
            if self._keys is None:
                self._keys = SigningKeys()
            return self._keys

    def redirect_uri_allowed(self, uri: str) -> bool:
        """Registered as is, or a registered Google callback with Microsoft's path instead."""
        for known in self._redirect_uris():
            if uri == known or uri == known.replace(GOOGLE_CALLBACK, MICROSOFT_CALLBACK):
                return True
        return False

    def record_sign_out(
        self, tenant: str, post_logout_redirect_uri: str | None, hint: str | None
    ) -> None:
        entry = {
            "tenant": tenant,
            "post_logout_redirect_uri": post_logout_redirect_uri,
            "logout_hint": hint,
            "at": clock.rfc3339(clock.now()),
        }
        with self._lock:
            self._sign_outs.append(entry)
        self.counters.bump("sign_outs", hint)

    def sign_outs(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._sign_outs)

    def reset(self) -> None:
        self.accounts.reset()
        self.tokens.reset()
        self.limiter.reset()
        self.throttles.reset()
        self.mailboxes.reset()
        self.counters.reset()
        self.settings = MsSettings()
        with self._lock:
            self._sign_outs.clear()
