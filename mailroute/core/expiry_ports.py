"""The port of the advance notices that a connection's refresh token ends soon: one per
connection generation, opened when the connection enters the window, sent once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

ExpiryOutcome = Literal["sent", "dropped", "already_handled"]


@dataclass(frozen=True)
class DueExpiryNotice:
    """An advance notice to send: the connection, its end, and who is told (the company's
    admins and whoever connected the mailbox, as for a break)."""

    connection_id: str
    generation: int
    company_id: str
    company_name: str
    address: str
    expires_at: datetime  # aware UTC
    recipients: tuple[str, ...]
    attempts: int
    provider: str = "gmail"
    still_active: bool = True  # the connection is active in this generation


class ExpiryNotices(Protocol):
    def open_due(self, window: timedelta) -> int:
        """Open the notice of every active connection whose refresh token ends within
        `window` and has not ended, once per (connection, generation); how many were opened."""
        ...

    def pending(self, limit: int) -> list[tuple[str, int]]:
        """(connection id, generation) of notices not sent yet, oldest first."""
        ...

    def deliver_once(
        self, connection_id: str, generation: int, send: Callable[[DueExpiryNotice], bool]
    ) -> ExpiryOutcome:
        """Hand the pending notice to `send`, one caller at a time; `send` answers False when
        the notice is not worth sending any more (it is dropped). A `MailrouteError` from
        `send` is recorded (the notice stays pending) and re-raised."""
        ...
