"""Emails whose work was abandoned, and how each still ends `failed` with a reason.

Every accepted email ends `sent` or `failed`. Two things could leave one waiting for ever, and
each ends here instead:

- **A dead message.** dramatiq gave up on a queue message (its retries ran out, or it failed
  with an error that is never retried) that carried an email: its id (`route_email`,
  `send_via_*`) or a producer's `EmailRequested` (`dispatch_email`, inline from Python's
  `publish`). That email fails `dead_lettered`, naming the step, the error and the attempts,
  unless it already ended or another delivery holds a live claim on it (that one will record
  its outcome). An inline request nobody stored yet is stored failed, so `GET /v1/emails/{id}`
  knows it. A request the door refused (unreadable, an unknown company) was never accepted:
  it is recorded as rejected, and no email is made of it. Replaying the dead message
  (`mailroute dlq replay`) opens the email again, so the replay can send it.
- **A stall.** The clock finds an email accepted, queued, sending or retrying long past when
  work should have come (its message lost with a broker's disk, put straight on a dead-letter
  queue, or one that killed its worker on every claim until the claims ran out,
  `email_claims.MAX_CLAIMS`); it puts the email back on its queue, up to `StallPolicy.max_requeues`
  times without progress in between; after that, and once the email made no progress for
  `StallPolicy.give_up_after`, it fails `stalled`. A re-drive is counted only when the broker
  confirmed it, so a broker outage never fails the emails waiting for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mailroute.core.errors import PermanentError
from mailroute.core.mime import email_id_for
from mailroute.core.model import Route
from mailroute.events import (
    EmailRequested,
    InvalidEventError,
    UnreadableEventError,
    queues,
    read_event,
)
from mailroute.events.ids import is_canonical_uuid

DEAD_LETTERED = "dead_lettered"
STALLED = "stalled"
# The errors with which the dispatch door refuses a producer's message: never accepted.
_REFUSALS = (PermanentError, InvalidEventError, UnreadableEventError)
_STEPS = {
    queues.DISPATCH_EMAIL: "taking it from the dispatch queue",
    queues.ROUTE_EMAIL: "routing it",
    queues.SEND_VIA_SMTP: "sending it through the default sender",
    queues.SEND_VIA_GMAIL: "sending it through Gmail",
    queues.SEND_VIA_MICROSOFT: "sending it through Microsoft 365",
    queues.DISPATCH_EMAILS: "taking it from the dispatch queue",
    queues.SEND_MANY_VIA_SMTP: "sending it through the default sender",
    queues.SEND_MANY_VIA_GMAIL: "sending it through Gmail",
    queues.SEND_MANY_VIA_MICROSOFT: "sending it through Microsoft 365",
}
_WAITING = {
    "accepted": "accepted but never routed",
    "queued": "queued but never sent",
    "sending": "in a send that never finished",
    "retrying": "waiting for a retry long past due",
}


@dataclass(frozen=True)
class DeadLetter:
    """A queue message dramatiq gave up on, as the dead-letter middleware saw it."""

    message_id: str
    queue: str
    actor: str
    args: tuple[Any, ...]
    retries: int  # retries run before it died
    reason: str  # "ErrorType: text", or why it was skipped
    error: BaseException | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class DeadEmail:
    """The accepted email a dead message carried, and the request itself when inline."""

    email_id: str
    request: EmailRequested | None = None


def emails_of(dead: DeadLetter) -> list[DeadEmail]:
    """Every accepted email the dead message carried: one, or a batch message's many (each
    id, each readable request); none for a notice, a message the door refused, an id that is
    not one."""
    first = dead.args[0] if dead.args else None
    if isinstance(dead.error, _REFUSALS):
        return []
    if dead.actor in _BATCHES_OF_IDS:
        items = first if isinstance(first, list) else []
        return [DeadEmail(i) for i in items if isinstance(i, str) and is_canonical_uuid(i)]
    if dead.actor == queues.DISPATCH_EMAILS:
        items = first if isinstance(first, list) else []
        return [found for i in items if (found := _requested(i)) is not None]
    if dead.actor in _BY_ID:
        return [DeadEmail(first)] if isinstance(first, str) and is_canonical_uuid(first) else []
    if dead.actor != queues.DISPATCH_EMAIL:
        return []
    found = _requested(first)
    return [found] if found is not None else []


def email_of(dead: DeadLetter) -> DeadEmail | None:
    """The one accepted email a dead message carried (the first, for a batch)."""
    found = emails_of(dead)
    return found[0] if found else None


# Actors whose message carries a list of email ids.
_BATCHES_OF_IDS = tuple(actor for _, actor in queues.BATCH_SENDERS.values())
# Actors whose message carries one email id.
_BY_ID = (queues.ROUTE_EMAIL, *(actor for _, actor in queues.SENDERS.values()))


def _requested(value: object) -> DeadEmail | None:
    if not isinstance(value, str | bytes | dict):
        return None
    try:
        event: EmailRequested = read_event(value, expected="EmailRequested")
    except Exception:  # noqa: BLE001 - unreadable now: the door refuses it too, never accepted
        return None
    return DeadEmail(email_id_for(event.company_id, event.event_id), event)


def dead_lettered(dead: DeadLetter, email_id: str) -> tuple[str, str]:
    """The failure a dead message leaves on its email: code and message, for its sender."""
    step = _STEPS.get(dead.actor, f"running {dead.actor}")
    attempts = dead.retries + 1
    tried = "at its first attempt" if attempts == 1 else f"after {attempts} attempts"
    return DEAD_LETTERED, (
        f"mailroute gave up on this email while {step}, {tried}: {dead.reason[:300]}. Nothing"
        " more is tried on its own; the message is kept in the dead-letter queue for ops."
        f" Retry it with POST /v1/emails/{email_id}/retry once the cause is fixed."
    )


@dataclass(frozen=True)
class Stalled:
    """An email the clock found waiting long past when work should have come."""

    email_id: str
    status: str
    route: Route | None
    correlation_id: str | None
    requeues: int  # re-drives since its last progress, each confirmed by the broker
    stalled_since: datetime  # its last progress
    stalled_for: timedelta  # by the database's clock
    attempts: int = 0  # claims of it so far


@dataclass(frozen=True)
class StallPolicy:
    max_requeues: int = 3
    give_up_after: timedelta = timedelta(hours=1)

    def gives_up(self, stalled: Stalled) -> bool:
        return stalled.requeues >= self.max_requeues and stalled.stalled_for >= self.give_up_after


def stalled_failure(stalled: Stalled) -> tuple[str, str]:
    """The failure of an email the clock gave up on: code and message, for its sender."""
    waiting = _WAITING.get(stalled.status, stalled.status)
    if stalled.status == "sending" and stalled.attempts > 1:
        waiting += f" ({stalled.attempts} attempts)"
    since = stalled.stalled_since.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return STALLED, (
        f"mailroute lost track of this email: it stayed {waiting} since {since}, and was put"
        f" back on its queue {stalled.requeues} times without progress, so mailroute gave up"
        f" on it. Retry it with POST /v1/emails/{stalled.email_id}/retry."
    )


class AbandonedEmails(Protocol):
    """Ending the emails whose work was abandoned, and opening one again for a replay."""

    def fail_abandoned(
        self, email_id: str, *, message_id: str, code: str, message: str
    ) -> int | None:
        """Fail the email (with its `EmailFailed`, whose outbox id is returned) unless it has
        ended, or a delivery other than `message_id` holds a live claim on it."""
        ...

    def store_failed_request(
        self, request: EmailRequested, *, correlation_id: str | None, code: str, message: str
    ) -> int | None:
        """The last resort, when a request cannot be stored whole: store what can be of it,
        failed, with no recipient or body (so it can never be sent half)."""
        ...

    def reopen_dead_lettered(self, email_id: str, message_id: str) -> tuple[str, str | None] | None:
        """failed `dead_lettered` -> where it was before (accepted, queued, or `sending` under
        the dead message's own claim), a fresh attempt count; (status, correlation id)."""
        ...
