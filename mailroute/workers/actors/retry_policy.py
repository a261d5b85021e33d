"""Which exceptions dramatiq may retry: anything unexpected (a database blip), a few times.

Business errors never reach here as retries: permanent ones fail the email, transient provider
errors are retried by the sending use case with the email row's own attempt count. Never
retried either: data PostgreSQL refuses (SQLSTATE class 22, "data exception": a character it
cannot store, a value out of range), which the same message would bring again. A message that
dies is dead-lettered, and the email it carried ends `failed` (`core.abandoned`).
"""

from __future__ import annotations

from mailroute.core.errors import PermanentError
from mailroute.events import InvalidEventError, UnreadableEventError

MAX_RETRIES = 10
NEVER_RETRIED = (PermanentError, InvalidEventError, UnreadableEventError)
_DATA_EXCEPTION = "22"


def refused_data(exc: BaseException) -> bool:
    """PostgreSQL refused the data itself (psycopg errors carry their SQLSTATE)."""
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_DATA_EXCEPTION)


def transient_only(retries_so_far: int, exc: BaseException) -> bool:
    return (
        not isinstance(exc, NEVER_RETRIED)
        and not refused_data(exc)
        and retries_so_far < MAX_RETRIES
    )
