"""Which exceptions dramatiq may retry: anything unexpected (a database blip), a few times.

Business errors never reach here as retries: permanent ones fail the email, transient provider
errors are retried by the sending use case with the email row's own attempt count.
"""

from __future__ import annotations

from mailroute.core.errors import PermanentError
from mailroute.events import InvalidEventError, UnreadableEventError

MAX_RETRIES = 10
NEVER_RETRIED = (PermanentError, InvalidEventError, UnreadableEventError)


def transient_only(retries_so_far: int, exc: BaseException) -> bool:
    return not isinstance(exc, NEVER_RETRIED) and retries_so_far < MAX_RETRIES
