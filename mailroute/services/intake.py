"""Intake: the one validation shared by Python `publish`, `POST /v1/emails` and `mailroute send`.

Everything is checked before anything is published: the event's fields, its size, the company,
and the caller's right to send for it. A refusal names the field and the rule.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from mailroute.core.errors import BrokerUnavailableError
from mailroute.core.mime import email_id_for
from mailroute.events import EmailRequested, FieldProblem, InvalidEventError, queues

log = structlog.get_logger(__name__)
# After RabbitMQ refuses a publish, HTTP intake only stores requests (the relay publishes them)
# for this long before trying the broker again.
BROKER_BACKOFF_SECONDS = 5.0


class IntakeOutbox(Protocol):
    def store(
        self, company_id: str, event_id: str, email_id: str, payload: dict[str, Any]
    ) -> int | None: ...

    def publish(self, publish: Any, *, ids: list[int] | None = None, limit: int = 200) -> int: ...


class CompanyLookup(Protocol):
    def get(self, company_id: str) -> Any | None: ...


class QueuePublisher(Protocol):
    def enqueue(
        self, queue: str, actor: str, args: tuple[Any, ...], *, delay_seconds: float = 0.0
    ) -> str: ...


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


@dataclass(frozen=True)
class Accepted:
    email_id: str
    event_id: str
    company_id: str


class Intake:
    def __init__(self, companies: CompanyLookup, queue: QueuePublisher, max_bytes: int) -> None:
        self._companies = companies
        self._queue = queue
        self._max_bytes = max_bytes
        self._broker_down_until = 0.0

    def validate(
        self, data: Mapping[str, Any] | EmailRequested, *, company_id: str | None = None
    ) -> EmailRequested:
        """Check everything; `company_id` is the caller's company when it is known (API keys)."""
        if isinstance(data, EmailRequested):
            data = data.to_wire()
        data = dict(data)
        if company_id is not None:
            given = data.setdefault("company_id", company_id)
            if given != company_id:
                if self._companies.get(str(given)) is None:
                    raise UnknownCompanyRequestError(str(given))
                raise ForbiddenCompanyError()
        data.setdefault("event_id", str(uuid.uuid4()))
        event = EmailRequested.parse(data)
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
        if self._companies.get(event.company_id) is None:
            raise UnknownCompanyRequestError(event.company_id)
        return event

    def publish(
        self, data: Mapping[str, Any] | EmailRequested, *, company_id: str | None = None
    ) -> Accepted:
        """Validate, then publish with confirms. Raises `BrokerUnavailableError` when RabbitMQ
        cannot confirm: the caller knows nothing was accepted."""
        event = self.validate(data, company_id=company_id)
        self._queue.enqueue(queues.DISPATCH, queues.DISPATCH_EMAIL, (event.to_wire(),))
        email_id = email_id_for(event.company_id, event.event_id)
        log.info("email.accepted", email_id=email_id, company_id=event.company_id)
        return Accepted(email_id=email_id, event_id=event.event_id, company_id=event.company_id)

    def accept_durably(
        self, data: Mapping[str, Any], outbox: IntakeOutbox, *, company_id: str
    ) -> Accepted:
        """Validate, store in the outbox (the request is now safe), then publish right away.

        While RabbitMQ is down the request stays in the outbox and the clock's relay publishes it
        when the broker is back, so the caller gets its 202 either way."""
        event = self.validate(data, company_id=company_id)
        email_id = email_id_for(event.company_id, event.event_id)
        row_id = outbox.store(event.company_id, event.event_id, email_id, event.to_wire())
        broker_down = time.monotonic() < self._broker_down_until
        if row_id is not None and not broker_down:
            try:
                outbox.publish(self.publish_stored, ids=[row_id])
            except BrokerUnavailableError:
                # Leave the rest to the relay for a while rather than make every caller wait
                # on a broker that just refused.
                self._broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
                log.warning("intake.publish_deferred", email_id=email_id)
        log.info("email.accepted", email_id=email_id, company_id=event.company_id)
        return Accepted(email_id=email_id, event_id=event.event_id, company_id=event.company_id)

    def publish_stored(self, payload: dict[str, Any]) -> None:
        """Publish a request that was validated when it was stored."""
        self._queue.enqueue(queues.DISPATCH, queues.DISPATCH_EMAIL, (payload,))
