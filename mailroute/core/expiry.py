"""When a connection's refresh token ends, and whether that is soon.

Only an end the provider announced counts: Google's `refresh_token_expires_in` (a project in
testing mode gets refresh tokens that end 7 days after the grant; time-based access ends when
the user chose). The idle limits (Google drops a refresh token unused for six months,
Microsoft one unused for 90 days) are never reached while the clock checks every active
connection, which uses its refresh token each time, so they are not an end to announce.

"Soon" is a window of three days before the end: long enough that a notice sent on a Friday
evening is read on the Monday before a token that ends that day stops, short enough to
mean something for a 7-day testing-mode token (a window as long as the token's life would
call every such connection "expiring soon" from the minute it was made).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

EXPIRES_SOON_WINDOW = timedelta(days=3)


@dataclass(frozen=True)
class Expiry:
    """A connection's known end: when, and whether it falls within the window."""

    expires_at: datetime | None  # aware UTC; None: no end is known
    soon: bool

    @property
    def known(self) -> bool:
        return self.expires_at is not None


NO_KNOWN_END = Expiry(expires_at=None, soon=False)


def expires_at_from_hint(seconds: object, *, now: datetime) -> datetime | None:
    """The end a token response announces (`refresh_token_expires_in`, seconds from `now`), or
    None when it announces none or says something that is not a positive number of seconds."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float, str)):
        return None
    try:
        value = float(seconds)
    except ValueError:
        return None
    if not value > 0 or value == float("inf"):
        return None
    return now + timedelta(seconds=int(value))


def expiry(
    expires_at: datetime | None,
    *,
    now: datetime,
    active: bool = True,
    window: timedelta = EXPIRES_SOON_WINDOW,
) -> Expiry:
    """The connection's expiry as the page, the API and the clock see it. Only an active
    connection expires; one whose end has passed is still "soon" until the next refresh
    finds it broken (the break path then tells the same people)."""
    if expires_at is None or not active:
        return NO_KNOWN_END
    return Expiry(expires_at=expires_at, soon=expires_at - now <= window)


def enters_window(expires_at: datetime, *, now: datetime, window: timedelta) -> bool:
    """True while an advance notice is still worth sending: the end is within the window and
    has not passed (after it, the break notice says it)."""
    return now < expires_at <= now + window
