"""Telling a company's admins (and whoever connected the mailbox), once per break, that its
mailbox is not connected, and once per re-authorization after a break, that it is Active again.

The break opened the notice for (connection, generation) and wrote the `AuthBroken` event the
notify actor receives; `notify_of_break` delivers that notice through the default SMTP sender
unless it was delivered already (the notice row's own lock and status make it once), with the
mailbox owner's re-authorization link. A re-authorization that ended a break opened its
Active-again notice and wrote the `GmailConnectionChanged` (state active) the same actor
receives; it is delivered the same way.
"""

from __future__ import annotations

import uuid
from email.utils import parseaddr
from typing import Any

import structlog

from mailroute.core.mime import build_message, envelope_address
from mailroute.core.model import OutgoingEmail
from mailroute.core.notice_text import (
    BrokenConnection,
    NoticeText,
    ReconnectedConnection,
    active_again_message_id,
    active_again_notice,
    auth_broken_notice,
    notice_message_id,
)
from mailroute.core.ports import Envelope
from mailroute.core.reauthorization import (
    ActiveAgainNotices,
    LinkedNotice,
    PendingActiveAgain,
    reauthorization_url,
)
from mailroute.core.records import DeliveryOutcome, PendingNotice
from mailroute.events import AuthBroken, GmailConnectionChanged, read_event
from mailroute.services.dependencies import Dependencies

log = structlog.get_logger(__name__)


def notify_of_break(raw: Any, legacy_generation: int | None, deps: Dependencies) -> DeliveryOutcome:
    """What the notify actor runs for each `AuthBroken` delivered to it: deliver the notice of
    that break unless it was delivered already. (A message of the earlier release carried
    `(connection_id, generation)`; it is read the same way.) A `GmailConnectionChanged` of a
    re-authorization after a break goes to `notify_active_again`."""
    if isinstance(raw, str) and legacy_generation is not None:
        connection_id, generation = raw, int(legacy_generation)
    else:
        event: AuthBroken | GmailConnectionChanged = read_event(raw, expected=_type_of(raw))
        if isinstance(event, GmailConnectionChanged):
            return notify_active_again(event, deps)
        connection_id, generation = event.connection_id, event.generation

    def send(notice: PendingNotice) -> None:
        _send_notice(notice, deps)

    outcome = deps.notices.deliver_once(connection_id, generation, send)
    log.info("notice.handled", connection_id=connection_id, generation=generation, outcome=outcome)
    return outcome


def _type_of(raw: Any) -> str:
    """The event type a notify task names; an untyped one is a break's (the earliest shape)."""
    is_change = isinstance(raw, dict) and raw.get("type") == "GmailConnectionChanged"
    return "GmailConnectionChanged" if is_change else "AuthBroken"


def notify_active_again(event: GmailConnectionChanged, deps: Dependencies) -> DeliveryOutcome:
    """Deliver the Active-again notice of this re-authorization unless it was already."""
    notices = deps.notices
    if event.state != "active" or not isinstance(notices, ActiveAgainNotices):
        log.warning("notice.active_again_unhandled", connection_id=event.connection_id)
        return "no_notice"

    def send(notice: PendingActiveAgain) -> None:
        _send_active_again(notice, deps)

    outcome = notices.deliver_active_again_once(event.connection_id, event.generation, send)
    log.info(
        "notice.active_again_handled",
        connection_id=event.connection_id,
        generation=event.generation,
        outcome=outcome,
    )
    return outcome


def _send_active_again(notice: PendingActiveAgain, deps: Dependencies) -> None:
    if not notice.recipients:
        log.warning("notice.no_recipients", company_id=notice.company_id)
        return
    settings = deps.settings
    text = active_again_notice(
        ReconnectedConnection(
            company_name=notice.company_name,
            address=notice.address,
            reconnected_at=notice.reconnected_at,
            provider=notice.provider,
        ),
        settings.public_base_url,
    )
    domain = parseaddr(settings.default_from)[1].rpartition("@")[2]
    message_id = active_again_message_id(
        notice.connection_id, notice.generation, domain, notice.provider
    )
    key = f"{notice.connection_id}/{notice.generation}/active"
    event_id = f"{notice.provider}-active-{notice.generation}"
    _deliver(text, notice.recipients, notice.company_id, key, message_id, deps, event_id)
    log.info("notice.active_again_sent", company_id=notice.company_id, attempt=notice.attempts + 1)


def _send_notice(notice: PendingNotice, deps: Dependencies) -> None:
    if not notice.recipients:
        log.warning("notice.no_recipients", company_id=notice.company_id)
        return
    settings = deps.settings
    default_address = parseaddr(settings.default_from)[1]
    token = notice.reauthorization_token if isinstance(notice, LinkedNotice) else None
    text = auth_broken_notice(
        BrokenConnection(
            company_name=notice.company_name,
            address=notice.address,
            reason=notice.reason,
            broken_at=notice.broken_at,
            default_while_broken=notice.default_while_broken,
            default_address=default_address,
            provider=notice.provider,
            reauthorization_url=(
                reauthorization_url(settings.public_base_url, token) if token else None
            ),
        ),
        settings.public_base_url,
    )
    domain = default_address.rpartition("@")[2]
    message_id = notice_message_id(notice.connection_id, notice.generation, domain, notice.provider)
    key = f"{notice.connection_id}/{notice.generation}"
    event_id = f"{notice.provider}-broken-{notice.generation}"
    _deliver(text, notice.recipients, notice.company_id, key, message_id, deps, event_id)
    log.info(
        "notice.sent",
        company_id=notice.company_id,
        recipients=len(notice.recipients),
        attempt=notice.attempts + 1,
    )


def _deliver(
    text: NoticeText,
    recipients: tuple[str, ...],
    company_id: str,
    key: str,
    message_id: str,
    deps: Dependencies,
    event_id: str | None = None,
) -> None:
    """Send one notice through the default SMTP sender; the same id and Message-ID on every
    attempt (`key`), so a retry is recognisable."""
    settings = deps.settings
    email = OutgoingEmail(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
        company_id=company_id,
        event_id=event_id or key,
        subject=text.subject,
        to=recipients,
        text=text.text,
        html=text.html,
        message_id=message_id,
    )
    message = build_message(email, from_=settings.default_from)
    envelope = Envelope(
        mail_from=parseaddr(settings.default_from)[1],
        recipients=tuple(envelope_address(r) for r in recipients),
    )
    deps.transports["default"].send(message.as_bytes(), envelope)
