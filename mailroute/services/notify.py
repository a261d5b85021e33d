"""Telling a company's admins, once per break, that its Gmail connection is not connected.

The break opened the notice for (connection, generation) and wrote the `AuthBroken` event the
notify actor receives; `notify_of_break` delivers that notice through the default SMTP sender
unless it was delivered already (the notice row's own lock and status make it once).
"""

from __future__ import annotations

import uuid
from email.utils import parseaddr
from typing import Any

import structlog

from mailroute.core.mime import build_message, envelope_address
from mailroute.core.model import OutgoingEmail
from mailroute.core.notice_text import BrokenConnection, auth_broken_notice, notice_message_id
from mailroute.core.ports import Envelope
from mailroute.core.records import DeliveryOutcome, PendingNotice
from mailroute.events import AuthBroken, read_event
from mailroute.services.dependencies import Dependencies

log = structlog.get_logger(__name__)


def notify_of_break(raw: Any, legacy_generation: int | None, deps: Dependencies) -> DeliveryOutcome:
    """What the notify actor runs for each `AuthBroken` delivered to it: deliver the notice of
    that break unless it was delivered already. (A message of the earlier release carried
    `(connection_id, generation)`; it is read the same way.)"""
    if isinstance(raw, str) and legacy_generation is not None:
        connection_id, generation = raw, int(legacy_generation)
    else:
        event: AuthBroken = read_event(raw, expected="AuthBroken")
        connection_id, generation = event.connection_id, event.generation

    def send(notice: PendingNotice) -> None:
        _send_notice(notice, deps)

    outcome = deps.notices.deliver_once(connection_id, generation, send)
    log.info("notice.handled", connection_id=connection_id, generation=generation, outcome=outcome)
    return outcome


def _send_notice(notice: PendingNotice, deps: Dependencies) -> None:
    if not notice.recipients:
        log.warning("notice.no_recipients", company_id=notice.company_id)
        return
    settings = deps.settings
    default_address = parseaddr(settings.default_from)[1]
    text = auth_broken_notice(
        BrokenConnection(
            company_name=notice.company_name,
            address=notice.address,
            reason=notice.reason,
            broken_at=notice.broken_at,
            default_while_broken=notice.default_while_broken,
            default_address=default_address,
            provider=notice.provider,
        ),
        settings.public_base_url,
    )
    domain = default_address.rpartition("@")[2]
    email = OutgoingEmail(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{notice.connection_id}/{notice.generation}")),
        company_id=notice.company_id,
        event_id=f"{notice.provider}-broken-{notice.generation}",
        subject=text.subject,
        to=notice.recipients,
        text=text.text,
        html=text.html,
        message_id=notice_message_id(
            notice.connection_id, notice.generation, domain, notice.provider
        ),
    )
    message = build_message(email, from_=settings.default_from)
    envelope = Envelope(
        mail_from=default_address,
        recipients=tuple(envelope_address(r) for r in notice.recipients),
    )
    deps.transports["default"].send(message.as_bytes(), envelope)
    log.info(
        "notice.sent",
        company_id=notice.company_id,
        recipients=len(notice.recipients),
        attempt=notice.attempts + 1,
    )
