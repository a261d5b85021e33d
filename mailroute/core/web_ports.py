"""The ports the web doors talk through: browser sessions known server-side, their one-shot
notices, and a rate limit shared by every web process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from mailroute.core.records import AdminUser


@dataclass(frozen=True)
class BrowserSessionRecord:
    """A live browser session: its id (which OAuth states are bound to; never sent to the
    browser), its CSRF token, and the admin signed in with it, if any."""

    session_id: str
    csrf: str
    admin: AdminUser | None


@dataclass(frozen=True)
class OpenedSession:
    """A new session, and the token its cookie carries (only a hash of it is stored)."""

    token: str
    record: BrowserSessionRecord


class BrowserSessions(Protocol):
    """Sessions live server-side until they expire or end; the cookie holds a random token."""

    def open(self, admin: AdminUser | None, ttl: timedelta) -> OpenedSession: ...

    def find(self, token: str) -> BrowserSessionRecord | None:
        """The live session of the token. A session whose admin is no longer an admin of its
        company (or was removed) is ended, and None returned."""
        ...

    def end(self, session_id: str) -> None: ...


class SessionNotices(Protocol):
    """Notices a page shows once (the session keeps the last few)."""

    def push(self, session_id: str, notice: dict[str, Any]) -> None: ...

    def pop(self, session_id: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_seconds: int = 0  # when refused: until the oldest call leaves the window


class RateLimits(Protocol):
    """At most `limit` calls per `key` in any `period`, counted for every process at once."""

    def take(self, key: str, limit: int, period: timedelta) -> RateDecision: ...
