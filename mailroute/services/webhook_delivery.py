"""Delivering one outcome webhook: what the `webhooks` queue's actor runs for each delivery id.

The delivery was written beside its outcome event, in the same transaction, with the task that
brings it here. One attempt: claim the delivery (only one attempt at a time, and only when it is
due), check the target again (`webhook_targets`: a host that now resolves inside is refused
without a request), sign (`core.webhook_signing`), POST without following redirects, and record
the answer with the next attempt's due time from the retry schedule, or the delivery's end.
An endpoint that has known only failures for the configured days (or answered 410) is disabled
by one conditional UPDATE, and its admins are told once (`notify_disabled`). The clock re-drives
what is due (`redrive`), so nothing waits on a message a dead worker held.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

import structlog

from mailroute.core import webhook_signing as signing
from mailroute.core.mime import build_message, envelope_address
from mailroute.core.model import OutgoingEmail
from mailroute.core.ports import Envelope, MessageTransport, Outbox
from mailroute.core.webhook_addresses import Network
from mailroute.core.webhook_notice_text import notice_message_id, webhook_disabled_notice
from mailroute.core.webhook_ports import (
    AddressResolver,
    AttemptResult,
    ClaimedDelivery,
    DeliveryAttempts,
    DisabledNotice,
    DisabledNotices,
    DueDeliveries,
    WebhookTransport,
)
from mailroute.core.webhook_rules import DisablePolicy, RetrySchedule, is_success
from mailroute.events import UnreadableEventError
from mailroute.events.ids import is_canonical_uuid
from mailroute.services.webhook_targets import CheckedTarget, check_target

log = structlog.get_logger(__name__)
CANNOT_SIGN = (
    "the signing secret cannot be read with the configured TOKEN_ENCRYPTION_KEYS;"
    " rotate the endpoint's secret"
)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WebhookDeliveryDeps:
    attempts: DeliveryAttempts
    notices: DisabledNotices
    resolver: AddressResolver
    transport: WebhookTransport
    outbox: Outbox
    mail: MessageTransport
    default_from: str
    public_base_url: str
    schedule: RetrySchedule = field(default_factory=RetrySchedule)
    disable: DisablePolicy = field(default_factory=DisablePolicy)
    allowed_networks: tuple[Network, ...] = ()
    now: Callable[[], datetime] = _now
    spread: Callable[[], float] = random.random


def deliver(delivery_id: str, deps: WebhookDeliveryDeps) -> str:
    """One attempt at a delivery if it is due and not in flight; what became of it:
    `delivered`, `retrying`, `failed` (the schedule is spent) or `not_due`."""
    if not is_canonical_uuid(delivery_id):
        raise UnreadableEventError(f"a webhook delivery is named by its UUID, not {delivery_id!r}")
    claimed = deps.attempts.claim(delivery_id)
    if claimed is None:
        return "not_due"
    result = _attempt(claimed, deps)
    now = deps.now()
    delivered = is_success(result.status_code)
    next_at = None if delivered else _next_attempt(claimed, deps, now)
    recorded = deps.attempts.record(claimed, result, next_attempt_at=next_at)
    outcome = "delivered" if delivered else ("retrying" if next_at else "failed")
    log.info(
        "webhook.attempted",
        delivery_id=claimed.id,
        endpoint_id=claimed.endpoint_id,
        company_id=claimed.company_id,
        event_type=claimed.event_type,
        attempt=claimed.attempt,
        status_code=result.status_code,
        error=result.error,
        duration_ms=result.duration_ms,
        outcome=outcome,
    )
    if not delivered and recorded.ours:
        _disable_if_due(claimed, result, recorded.failing_since, deps, now)
    return outcome


def _next_attempt(
    claimed: ClaimedDelivery, deps: WebhookDeliveryDeps, now: datetime
) -> datetime | None:
    if claimed.final_attempt:
        return None
    delay = deps.schedule.next_delay(claimed.attempt, spread=deps.spread())
    return None if delay is None else now + timedelta(seconds=delay)


def _attempt(claimed: ClaimedDelivery, deps: WebhookDeliveryDeps) -> AttemptResult:
    started = time.monotonic()
    if not claimed.signing_secrets:
        return AttemptResult(0, error=CANNOT_SIGN)
    checked = check_target(claimed.url, deps.resolver, deps.allowed_networks)
    if not isinstance(checked, CheckedTarget):
        _field, rule, message = checked
        elapsed = int((time.monotonic() - started) * 1000)
        return AttemptResult(elapsed, error=f"not sent ({rule}): {message}")
    payload = signing.body(claimed.event_type, claimed.occurred_at, claimed.data)
    headers = signing.headers(
        claimed.signing_secrets,
        signing.message_id(claimed.id),
        int(deps.now().timestamp()),
        payload,
    )
    return deps.transport.post(checked.target, checked.address, headers, payload)


def _disable_if_due(
    claimed: ClaimedDelivery,
    result: AttemptResult,
    failing_since: datetime | None,
    deps: WebhookDeliveryDeps,
    now: datetime,
) -> None:
    reason = deps.disable.reason(
        failing_since=failing_since, now=now, status_code=result.status_code
    )
    if reason is None:
        return
    outbox_id = deps.attempts.disable(claimed.endpoint_id, reason)
    if outbox_id is not None:
        log.warning(
            "webhook.endpoint_disabled",
            endpoint_id=claimed.endpoint_id,
            company_id=claimed.company_id,
            reason=reason,
        )
        deps.outbox.publish_stored([outbox_id])


def notify_disabled(endpoint_id: str, generation: int, deps: WebhookDeliveryDeps) -> str:
    """Tell the company's admins that the endpoint was disabled, unless they were told."""

    if not is_canonical_uuid(endpoint_id) or not isinstance(generation, int):
        raise UnreadableEventError(
            f"not an endpoint and generation: {endpoint_id!r}, {generation!r}"
        )

    def send(notice: DisabledNotice) -> None:
        _send_notice(notice, deps)

    outcome = deps.notices.deliver_once(endpoint_id, generation, send)
    log.info("webhook.disabled_notice", endpoint_id=endpoint_id, outcome=outcome)
    return outcome


def _send_notice(notice: DisabledNotice, deps: WebhookDeliveryDeps) -> None:
    if not notice.recipients:
        log.warning("webhook.disabled_notice_no_recipients", company_id=notice.company_id)
        return
    text = webhook_disabled_notice(notice, deps.public_base_url)
    default_address = parseaddr(deps.default_from)[1]
    key = f"webhook-disabled/{notice.endpoint_id}/{notice.generation}"
    email = OutgoingEmail(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
        company_id=notice.company_id,
        event_id=key,
        subject=text.subject,
        to=notice.recipients,
        text=text.text,
        html=text.html,
        message_id=notice_message_id(
            notice.endpoint_id, notice.generation, default_address.rpartition("@")[2]
        ),
    )
    message = build_message(email, from_=deps.default_from)
    envelope = Envelope(
        mail_from=default_address,
        recipients=tuple(envelope_address(r) for r in notice.recipients),
    )
    deps.mail.send(message.as_bytes(), envelope)


def redrive(due: DueDeliveries, outbox: Outbox, *, limit: int = 500) -> int:
    """The clock's job: a task for every delivery due and every notice still pending."""
    outbox_ids = due.redrive(limit=limit)
    outbox.publish_stored(outbox_ids)
    return len(outbox_ids)
