"""Intake: the one validation shared by Python `publish`, `POST /v1/emails` and `mailroute send`,
and the one way an email is accepted.

Everything is checked once, before anything is stored or published: the event's fields, its
size, the company, and the caller's right to send for it. A refusal names the field and the
rule. The rules live in `mailroute.events` (`email_fields`, `text_rules`, `file_types`,
`wire_json`, `ids`), so the queue reader of a raw `EmailRequested` applies the very same ones.
Accepting stores the email with its attachments (and, in the same statement, the task that
routes it) and publishes only its id: no queue message carries a body or an attachment.
Python's `publish` keeps publishing small `EmailRequested` events inline, with confirms; one
whose JSON is over `PUBLISH_INLINE_BYTES` is accepted the same way as over HTTP.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from mailroute.core.errors import BrokerUnavailableError
from mailroute.core.mime import email_id_for
from mailroute.core.ports import CompanyLookup, EmailStore, Outbox, QueuePublisher
from mailroute.events import EmailRequested, FieldProblem, InvalidEventError, queues
from mailroute.services.batch_intake import PartlyPublishedError, validate_batch

log = structlog.get_logger(__name__)
# The largest EmailRequested (as JSON) `publish` puts on the dispatch queue itself; larger ones
# are stored first and only their id is published. Far under RabbitMQ 4's 16 MiB message limit.
PUBLISH_INLINE_BYTES = 128 * 1024


# Providers whose mailboxes take smaller messages than MAX_EMAIL_BYTES may allow, checked on
# the message as sent: Exchange Online's default limit is 35 MB with attachments encoded
# (a tenant may lower it; Graph then refuses the send, and the email fails with its words).
ROUTE_MESSAGE_LIMITS: dict[str, tuple[int, str]] = {
    "microsoft": (
        35 * 1024 * 1024,
        "Microsoft 365 takes at most 35 MB a message (36700160 bytes)",
    ),
}


def mime_size(content_bytes: int) -> int:
    """A message's size on the wire from its content's: base64 (4/3) in lines of 76 characters
    and CRLF, plus room for headers and part boundaries."""
    return content_bytes * 4 // 3 * 78 // 76 + 16 * 1024


def new_correlation_id() -> str:
    return uuid.uuid4().hex


class UnknownCompanyRequestError(LookupError):
    field = "company_id"
    rule = "known_company"

    def __init__(self, company_id: str) -> None:
        super().__init__(f"no company with id {company_id!r}")


class ForbiddenCompanyError(PermissionError):
    field = "company_id"
    rule = "own_company"

    def __init__(self) -> None:
        super().__init__("this API key belongs to another company")


class IdempotencyConflictError(ValueError):
    """The event id was used before for another request (different fields)."""

    field = "event_id"
    rule = "same_request"

    def __init__(self, event_id: str) -> None:
        super().__init__(
            f"event id {event_id!r} was used before for a different request; use a new"
            " event id for a new email, or send the very same request to learn its outcome"
        )


@dataclass(frozen=True)
class Accepted:
    email_id: str
    event_id: str
    company_id: str
    correlation_id: str
    # The same event was accepted before: this answers the first acceptance.
    replayed: bool = False


class Intake:
    def __init__(
        self,
        companies: CompanyLookup,
        emails: EmailStore,
        outbox: Outbox,
        queue: QueuePublisher | None,
        max_bytes: int,
        *,
        inline_bytes: int = PUBLISH_INLINE_BYTES,
    ) -> None:
        self._companies = companies
        self._emails = emails
        self._outbox = outbox
        self._queue = queue
        self._max_bytes = max_bytes
        self._inline_bytes = inline_bytes

    def validate(
        self,
        data: Mapping[str, Any] | EmailRequested,
        *,
        company_id: str | None = None,
        known_companies: set[str] | None = None,
    ) -> EmailRequested:
        """Check everything; `company_id` is the caller's company when it is known (API keys).

        An `EmailRequested` instance is checked again like a mapping (it may have been built
        with `model_construct`, which checks nothing). `known_companies`: ids already found
        by this caller, not looked up again (a batch looks each company up once)."""
        if isinstance(data, EmailRequested):
            event = EmailRequested.parse(data)
        elif not isinstance(data, Mapping):
            got = type(data).__name__
            raise InvalidEventError([FieldProblem("(event)", "object", f"got {got}")])
        else:
            fields = dict(data)
            if company_id is not None:
                fields.setdefault("company_id", company_id)
            fields.setdefault("event_id", str(uuid.uuid4()))
            event = EmailRequested.parse(fields)
        if company_id is not None and event.company_id != company_id:
            self._refuse_company(event.company_id)
        if event.size > self._max_bytes:
            raise InvalidEventError(
                [
                    FieldProblem(
                        "attachments",
                        "max_size",
                        f"the email is {event.size} bytes; the limit is {self._max_bytes} bytes",
                    )
                ]
            )
        limit = ROUTE_MESSAGE_LIMITS.get(event.sender)
        if limit is not None and mime_size(event.size) > limit[0]:
            raise InvalidEventError(
                [
                    FieldProblem(
                        "attachments",
                        "max_message_size",
                        f"the email is about {mime_size(event.size)} bytes as sent (attachments"
                        f" encoded); {limit[1]}",
                    )
                ]
            )
        if known_companies is not None and event.company_id in known_companies:
            return event
        if self._companies.get(event.company_id) is None:
            raise UnknownCompanyRequestError(event.company_id)
        if known_companies is not None:
            known_companies.add(event.company_id)
        return event

    def _refuse_company(self, given: str) -> None:
        if self._companies.get(given) is None:
            raise UnknownCompanyRequestError(given)
        raise ForbiddenCompanyError()

    def accept(
        self,
        data: Mapping[str, Any] | EmailRequested,
        *,
        company_id: str | None = None,
        correlation_id: str | None = None,
    ) -> Accepted:
        """Validate, store with the task that routes it, then publish that task (an id).

        The email is safe once stored: while RabbitMQ is down the task waits in the outbox and
        a relay publishes it when the broker is back, so the caller is answered either way."""
        # The caller's company (its API key, or its admin's session, was just found for it)
        # exists: it is not looked up again.
        known = {company_id} if company_id is not None else None
        event = self.validate(data, company_id=company_id, known_companies=known)
        return self._accept(event, correlation_id)

    def _accept(self, event: EmailRequested, correlation_id: str | None) -> Accepted:
        given = correlation_id or event.correlation_id or new_correlation_id()
        result, outbox_id = self._emails.store(event, correlation_id=given)
        if not result.same_request:
            raise IdempotencyConflictError(event.event_id)
        if outbox_id is not None:
            self._outbox.publish_stored([outbox_id])
        accepted = Accepted(
            email_id=result.email_id,
            event_id=event.event_id,
            company_id=event.company_id,
            correlation_id=result.correlation_id or given,
            replayed=not result.created,
        )
        log.info(
            "email.accepted",
            email_id=accepted.email_id,
            company_id=accepted.company_id,
            correlation_id=accepted.correlation_id,
            replayed=accepted.replayed,
        )
        return accepted

    def publish(self, data: Mapping[str, Any] | EmailRequested) -> Accepted:
        """Python producers: validate, then publish the event inline with confirms (raises
        `BrokerUnavailableError` when RabbitMQ cannot confirm: nothing was accepted); an event
        over `PUBLISH_INLINE_BYTES` is accepted through the store instead, like HTTP intake."""
        event = self.validate(data)
        wire, correlation_id, size = _inline_wire(event)
        if size > self._inline_bytes:
            return self._accept(event, correlation_id)
        assert self._queue is not None
        self._queue.enqueue(
            queues.DISPATCH, queues.DISPATCH_EMAIL, (wire,), correlation_id=correlation_id
        )
        accepted = _published(event, correlation_id)
        log.info("email.published", email_id=accepted.email_id, correlation_id=correlation_id)
        return accepted

    def publish_many(self, items: Sequence[Mapping[str, Any] | EmailRequested]) -> list[Accepted]:
        """Python producers with many emails at once (a month-end run): every event validated
        first, as `publish` validates one, then published as few messages as the limits allow
        (`queues.BATCH_LIMIT` events and `PUBLISH_INLINE_BYTES` of JSON a message), each
        confirmed. Returns one `Accepted` per event, in order.

        Nothing is published when any event is refused: `InvalidEventError` names each refused
        event's fields as `[index].field` (an unknown company is rule `known_company`, an
        event id twice in the batch `unique_in_batch`). When RabbitMQ stops confirming midway,
        `PartlyPublishedError` (a `BrokerUnavailableError`) says which were accepted; publishing
        the whole batch again is safe, since an event id is sent once however often it comes."""
        events = validate_batch(self.validate, items)
        accepted: list[Accepted] = []
        chunk: list[tuple[EmailRequested, dict[str, Any], str]] = []
        chunk_bytes = 0
        for event in events:
            wire, correlation_id, size = _inline_wire(event)
            if size > self._inline_bytes:
                self._flush(chunk, accepted, len(events))
                chunk, chunk_bytes = [], 0
                accepted.append(self._accept(event, correlation_id))
                continue
            if len(chunk) == queues.BATCH_LIMIT or chunk_bytes + size > self._inline_bytes:
                self._flush(chunk, accepted, len(events))
                chunk, chunk_bytes = [], 0
            chunk.append((event, wire, correlation_id))
            chunk_bytes += size + 1
        self._flush(chunk, accepted, len(events))
        log.info("email.published_many", emails=len(accepted))
        return accepted

    def _flush(
        self,
        chunk: list[tuple[EmailRequested, dict[str, Any], str]],
        accepted: list[Accepted],
        total: int,
    ) -> None:
        """Publish one message of a batch (one confirm) and note its events accepted."""
        if not chunk:
            return
        assert self._queue is not None
        try:
            wires = [wire for _, wire, _ in chunk]
            self._queue.enqueue(queues.DISPATCH, queues.DISPATCH_EMAILS, (wires,))
        except BrokerUnavailableError as exc:
            raise PartlyPublishedError(list(accepted), total, exc) from exc
        accepted += [_published(event, correlation_id) for event, _, correlation_id in chunk]


def _inline_wire(event: EmailRequested) -> tuple[dict[str, Any], str, int]:
    """The event as it is published inline (with its correlation id), and its size as JSON."""
    correlation_id = event.correlation_id or new_correlation_id()
    wire = event.to_wire()
    wire["correlation_id"] = correlation_id
    return wire, correlation_id, len(json.dumps(wire, separators=(",", ":")))


def _published(event: EmailRequested, correlation_id: str) -> Accepted:
    return Accepted(
        email_id_for(event.company_id, event.event_id),
        event.event_id,
        event.company_id,
        correlation_id,
    )
