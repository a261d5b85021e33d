"""The ports of outcome webhooks and their value types: the endpoints a company registered, the
deliveries written beside each outcome event (one per subscribed endpoint), their attempts, and
the resolver and HTTP transport that reach the receivers.

    WebhookRegistry, WebhookControls, DeliveryHistory   what an admin does (the API, a page)
    DeliveryAttempts, DisabledNotices                    what the `webhooks` queue's worker does
    DueDeliveries                                        what the clock re-drives
    AddressResolver, WebhookTransport                    DNS and HTTP, never the database
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from mailroute.core.errors import MailrouteError
from mailroute.core.webhook_addresses import Target
from mailroute.core.webhook_signing import message_id

DeliveryStatus = Literal["pending", "sending", "delivered", "failed", "held"]
ReplayOutcome = Literal["queued", "not_found", "endpoint_disabled", "in_flight"]
RefusalKind = Literal["not_found", "invalid", "conflict"]


class HostUnresolvedError(MailrouteError):
    code = "host_unresolved"


class WebhookRefusedError(Exception):
    """An admin's request about webhooks is refused: what (`kind`), which field, which rule."""

    def __init__(self, kind: RefusalKind, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.field, self.rule, self.message = kind, field, rule, message


@dataclass(frozen=True)
class Endpoint:
    id: str
    company_id: str
    url: str
    description: str
    event_types: tuple[str, ...]
    enabled: bool
    created_at: datetime
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    failing_since: datetime | None = None
    previous_secret_expires_at: datetime | None = None


@dataclass(frozen=True)
class Attempt:
    attempted_at: datetime
    duration_ms: int
    status_code: int | None = None
    response_body: str = ""
    error: str | None = None


@dataclass(frozen=True)
class Delivery:
    id: str
    endpoint_id: str
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    created_at: datetime
    data: dict[str, Any]
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    attempts: tuple[Attempt, ...] = ()

    @property
    def webhook_id(self) -> str:
        return message_id(self.id)


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery taken for one attempt (`claim_token` proves it when the outcome is recorded)."""

    id: str
    endpoint_id: str
    company_id: str
    url: str
    event_type: str
    data: dict[str, Any]
    occurred_at: datetime
    attempt: int  # this attempt's number, 1 for the first
    claim_token: str
    final_attempt: bool = False
    # Newest first; empty when no configured key decrypts the stored secret.
    signing_secrets: tuple[str, ...] = ()
    correlation_id: str | None = None


@dataclass(frozen=True)
class AttemptResult:
    """What one HTTP attempt got: the status and the start of the body, or why none came."""

    duration_ms: int
    status_code: int | None = None
    body: str = ""
    error: str | None = None


@dataclass(frozen=True)
class Recorded:
    """What recording an attempt left: whether the claim was still ours, and since when the
    endpoint has known only failures (None after a success)."""

    ours: bool
    failing_since: datetime | None = None


@dataclass(frozen=True)
class DisabledNotice:
    endpoint_id: str
    generation: int
    company_id: str
    company_name: str
    url: str
    reason: str
    disabled_at: datetime
    recipients: tuple[str, ...] = field(default_factory=tuple)


class WebhookRegistry(Protocol):
    def add(
        self,
        company_id: str,
        *,
        url: str,
        event_types: Sequence[str],
        description: str,
        secret: str,
    ) -> Endpoint | None:
        """None when the company already has as many endpoints as it may."""
        ...

    def endpoints(self, company_id: str, endpoint_id: str | None = None) -> list[Endpoint]: ...

    def remove(self, company_id: str, endpoint_id: str) -> bool: ...


class WebhookControls(Protocol):
    def rotate_secret(
        self, company_id: str, endpoint_id: str, *, secret: str, overlap: timedelta
    ) -> Endpoint | None: ...

    def enable(self, company_id: str, endpoint_id: str) -> Endpoint | None: ...


class DeliveryHistory(Protocol):
    def deliveries(
        self,
        company_id: str,
        endpoint_id: str,
        *,
        limit: int,
        delivery_id: str | None = None,
        status: DeliveryStatus | None = None,
    ) -> list[Delivery]: ...

    def replay(
        self, company_id: str, endpoint_id: str, delivery_id: str
    ) -> tuple[ReplayOutcome, int | None]:
        """Ask for a new attempt now; the outcome and the outbox id of the task written."""
        ...


class DeliveryAttempts(Protocol):
    def claim(self, delivery_id: str) -> ClaimedDelivery | None: ...

    def record(
        self, claimed: ClaimedDelivery, result: AttemptResult, *, next_attempt_at: datetime | None
    ) -> Recorded: ...

    def disable(self, endpoint_id: str, reason: str) -> int | None:
        """Disable the endpoint unless it is already (one caller wins); the outbox id of the
        notice's task for the one that did."""
        ...


class DisabledNotices(Protocol):
    def deliver_once(
        self, endpoint_id: str, generation: int, send: Callable[[DisabledNotice], None]
    ) -> str: ...


class DueDeliveries(Protocol):
    def redrive(self, *, limit: int = 500) -> list[int]:
        """Write a task for each delivery due (and each notice still pending) whose task is not
        on its way; their outbox ids."""
        ...


class AddressResolver(Protocol):
    def resolve(self, host: str, port: int) -> list[str]:
        """Every address `host` resolves to; `HostUnresolvedError` when it resolves to none."""
        ...


class WebhookTransport(Protocol):
    def post(
        self, target: Target, address: str, headers: dict[str, str], body: bytes
    ) -> AttemptResult:
        """POST to `target` connecting to `address` (the one checked); never follows a redirect
        and never raises for what the receiver did."""
        ...
