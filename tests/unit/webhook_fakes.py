"""In-memory fakes of the webhook ports, each subclassing the port it stands in for: a store of
endpoints and deliveries that claims, records and disables as the PostgreSQL adapters do, a
resolver whose answers a test changes, a transport that answers what it is told, an outbox and a
mail transport that remember."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mailroute.core.errors import MailrouteError
from mailroute.core.ports import Envelope, MessageTransport, Outbox, ProviderReceipt
from mailroute.core.webhook_addresses import Target
from mailroute.core.webhook_ports import (
    AddressResolver,
    Attempt,
    AttemptResult,
    ClaimedDelivery,
    Delivery,
    DeliveryAttempts,
    DeliveryHistory,
    DeliveryStatus,
    DisabledNotice,
    DisabledNotices,
    Endpoint,
    HostUnresolvedError,
    Recorded,
    ReplayOutcome,
    WebhookControls,
    WebhookRegistry,
    WebhookTransport,
)
from mailroute.core.webhook_signing import new_secret


@dataclass
class Clock:
    """Starts at the real time: receivers check a signature's timestamp against theirs."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class FakeEndpoint:
    id: str
    company_id: str
    url: str
    secrets: tuple[str, ...]
    enabled: bool = True
    failing_since: datetime | None = None
    generation: int = 0
    notice: str | None = None
    reason: str | None = None


@dataclass
class FakeDelivery:
    id: str
    endpoint_id: str
    event_type: str
    data: dict[str, Any]
    occurred_at: datetime
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    final_attempt: bool = False
    token: str | None = None
    log: list[Attempt] = field(default_factory=list)


class FakeWebhookStore(DeliveryAttempts, DisabledNotices):
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.endpoints: dict[str, FakeEndpoint] = {}
        self.deliveries: dict[str, FakeDelivery] = {}
        self.tasks: list[tuple[str, list[Any]]] = []

    def add_endpoint(
        self, url: str = "https://hooks.acme.example/in", *, company_id: str = "c1", **kw: Any
    ) -> FakeEndpoint:
        kw.setdefault("secrets", (new_secret(),))
        endpoint = FakeEndpoint(str(uuid.uuid4()), company_id, url, **kw)
        self.endpoints[endpoint.id] = endpoint
        return endpoint

    def add_delivery(self, endpoint: FakeEndpoint, **kw: Any) -> FakeDelivery:
        kw.setdefault("event_type", "email.sent")
        kw.setdefault("data", {"type": "EmailSent", "company_id": endpoint.company_id})
        delivery = FakeDelivery(
            str(uuid.uuid4()),
            endpoint.id,
            occurred_at=self.clock(),
            next_attempt_at=self.clock(),
            **kw,
        )
        self.deliveries[delivery.id] = delivery
        return delivery

    def claim(self, delivery_id: str) -> ClaimedDelivery | None:
        d = self.deliveries.get(delivery_id)
        if d is None or d.status != "pending" or d.next_attempt_at is None:
            return None
        endpoint = self.endpoints[d.endpoint_id]
        if not endpoint.enabled or d.next_attempt_at > self.clock():
            return None
        d.status, d.attempts, d.token = "sending", d.attempts + 1, str(uuid.uuid4())
        return ClaimedDelivery(
            id=d.id,
            endpoint_id=d.endpoint_id,
            company_id=endpoint.company_id,
            url=endpoint.url,
            event_type=d.event_type,
            data=d.data,
            occurred_at=d.occurred_at,
            attempt=d.attempts,
            claim_token=d.token,
            final_attempt=d.final_attempt,
            signing_secrets=endpoint.secrets,
        )

    def record(
        self, claimed: ClaimedDelivery, result: AttemptResult, *, next_attempt_at: datetime | None
    ) -> Recorded:
        d = self.deliveries[claimed.id]
        d.log.append(
            Attempt(self.clock(), result.duration_ms, result.status_code, result.body, result.error)
        )
        if d.status != "sending" or d.token != claimed.claim_token:
            return Recorded(ours=False)
        ok = result.status_code is not None and 200 <= result.status_code < 300
        d.status = "delivered" if ok else ("pending" if next_attempt_at else "failed")
        d.next_attempt_at, d.token, d.final_attempt = next_attempt_at, None, False
        endpoint = self.endpoints[d.endpoint_id]
        endpoint.failing_since = None if ok else (endpoint.failing_since or self.clock())
        return Recorded(ours=True, failing_since=endpoint.failing_since)

    def disable(self, endpoint_id: str, reason: str) -> int | None:
        endpoint = self.endpoints[endpoint_id]
        if not endpoint.enabled:
            return None
        endpoint.enabled, endpoint.reason, endpoint.notice = False, reason, "pending"
        endpoint.generation += 1
        for d in self.deliveries.values():
            if d.endpoint_id == endpoint_id and d.status == "pending":
                d.status = "held"
        self.tasks.append(("notify_webhook_disabled", [endpoint_id, endpoint.generation]))
        return len(self.tasks)

    def deliver_once(
        self, endpoint_id: str, generation: int, send: Callable[[DisabledNotice], None]
    ) -> str:
        endpoint = self.endpoints[endpoint_id]
        if endpoint.generation != generation or endpoint.notice != "pending":
            return "no_notice" if endpoint.notice is None else f"already_{endpoint.notice}"
        send(
            DisabledNotice(
                endpoint_id=endpoint_id,
                generation=generation,
                company_id=endpoint.company_id,
                company_name="Acme Ltd",
                url=endpoint.url,
                reason=endpoint.reason or "",
                disabled_at=self.clock(),
                recipients=("admin@acme.example",),
            )
        )
        endpoint.notice = "sent"
        return "sent"


class FakeResolver(AddressResolver):
    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self.answers = answers or {"hooks.acme.example": ["93.184.216.34"]}

    def resolve(self, host: str, port: int) -> list[str]:
        if host not in self.answers:
            raise HostUnresolvedError(f"{host} does not resolve")
        return list(self.answers[host])


@dataclass(frozen=True)
class Sent:
    target: Target
    address: str
    headers: dict[str, str]
    body: bytes


class FakeTransport(WebhookTransport):
    """Answers each POST with the next of `answers` (a status, or an error text), then 200."""

    def __init__(self, *answers: int | str) -> None:
        self.answers = list(answers)
        self.sent: list[Sent] = []

    def post(
        self, target: Target, address: str, headers: dict[str, str], body: bytes
    ) -> AttemptResult:
        self.sent.append(Sent(target, address, headers, body))
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, str):
            return AttemptResult(3, error=answer)
        return AttemptResult(3, status_code=answer, body=f"answer {answer}")


class FakeOutbox(Outbox):
    def __init__(self) -> None:
        self.published: list[int] = []

    def publish_stored(self, outbox_ids: list[int]) -> None:
        self.published.extend(outbox_ids)


class FakeMail(MessageTransport):
    def __init__(self, failures: Sequence[MailrouteError] = ()) -> None:
        self.failures = list(failures)
        self.sent: list[tuple[bytes, Envelope]] = []

    def send(self, message: bytes, envelope: Envelope) -> ProviderReceipt:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((message, envelope))
        return ProviderReceipt()


class FakeWebhookRegistry(WebhookRegistry, WebhookControls, DeliveryHistory):
    """Endpoints by company, their secrets kept apart; `replays` says what a replay finds."""

    def __init__(self, limit: int = 20) -> None:
        self.limit = limit
        self.rows: dict[str, Endpoint] = {}
        self.secrets: dict[str, list[str]] = {}
        self.replay_outcome: ReplayOutcome = "queued"
        self.delivery_rows: dict[str, Delivery] = {}

    def add(
        self,
        company_id: str,
        *,
        url: str,
        event_types: Sequence[str],
        description: str,
        secret: str,
    ) -> Endpoint | None:
        if sum(e.company_id == company_id for e in self.rows.values()) >= self.limit:
            return None
        endpoint = Endpoint(
            str(uuid.uuid4()),
            company_id,
            url,
            description,
            tuple(event_types),
            True,
            datetime.now(UTC),
        )
        self.rows[endpoint.id] = endpoint
        self.secrets[endpoint.id] = [secret]
        return endpoint

    def endpoints(self, company_id: str, endpoint_id: str | None = None) -> list[Endpoint]:
        return [
            e
            for e in self.rows.values()
            if e.company_id == company_id and endpoint_id in (None, e.id)
        ]

    def remove(self, company_id: str, endpoint_id: str) -> bool:
        if not self.endpoints(company_id, endpoint_id):
            return False
        del self.rows[endpoint_id]
        return True

    def rotate_secret(
        self, company_id: str, endpoint_id: str, *, secret: str, overlap: timedelta
    ) -> Endpoint | None:
        if not self.endpoints(company_id, endpoint_id):
            return None
        self.secrets[endpoint_id].insert(0, secret)
        endpoint = self.rows[endpoint_id]
        expires = datetime.now(UTC) + overlap
        self.rows[endpoint_id] = Endpoint(
            **{**vars(endpoint), "previous_secret_expires_at": expires}
        )
        return self.rows[endpoint_id]

    def enable(self, company_id: str, endpoint_id: str) -> Endpoint | None:
        if not self.endpoints(company_id, endpoint_id):
            return None
        self.rows[endpoint_id] = Endpoint(**{**vars(self.rows[endpoint_id]), "enabled": True})
        return self.rows[endpoint_id]

    def deliveries(
        self,
        company_id: str,
        endpoint_id: str,
        *,
        limit: int,
        delivery_id: str | None = None,
        status: DeliveryStatus | None = None,
    ) -> list[Delivery]:
        if not self.endpoints(company_id, endpoint_id):
            return []
        found = [
            d
            for d in self.delivery_rows.values()
            if d.endpoint_id == endpoint_id and delivery_id in (None, d.id)
        ]
        return found[:limit]

    def replay(
        self, company_id: str, endpoint_id: str, delivery_id: str
    ) -> tuple[ReplayOutcome, int | None]:
        if not self.deliveries(company_id, endpoint_id, limit=1, delivery_id=delivery_id):
            return "not_found", None
        return self.replay_outcome, 7 if self.replay_outcome == "queued" else None
