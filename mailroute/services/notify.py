"""Telling a company's admins, once per break, that its Gmail connection is not connected.

`request_notice` asks the notify queue (cheap, any number of times: the notice row dedupes);
`notify_admins_once` is what the notify actor runs: open the notice for (connection,
generation), then deliver it through the default SMTP sender unless it was delivered already.
"""

from __future__ import annotations

import uuid
from email.utils import parseaddr

import structlog

from mailroute.core.errors import BrokerUnavailableError
from mailroute.core.mime import build_message, envelope_address
from mailroute.core.model import OutgoingEmail
from mailroute.core.notice import BrokenConnection, auth_broken_notice, notice_message_id
from mailroute.core.ports import Envelope
from mailroute.core.records import DeliveryOutcome, PendingNotice
from mailroute.events import queues
from mailroute.services.deps import Deps

log = structlog.get_logger(__name__)


def request_notice(deps: Deps, connection_id: str | None, generation: int | None) -> None:
    """Make sure the admins hear about this break; the notify actor sends at most one notice."""
    if connection_id is None or generation is None or deps.queue is None:
        return
    try:
        deps.queue.enqueue(queues.NOTIFY, queues.NOTIFY_ADMINS_ONCE, (connection_id, generation))
    except BrokerUnavailableError:
        # The next email that meets the broken connection asks again.
        log.warning("notice.request_deferred", connection_id=connection_id)


def notify_admins_once(connection_id: str, generation: int, deps: Deps) -> DeliveryOutcome:
    assert deps.notices is not None
    created = deps.notices.open(connection_id, generation)

    def send(notice: PendingNotice) -> None:
        _send_notice(notice, deps)

    outcome = deps.notices.deliver_once(connection_id, generation, send)
    log.info(
        "notice.handled",
        connection_id=connection_id,
        generation=generation,
        created=created,
        outcome=outcome,
    )
    return outcome


def _send_notice(notice: PendingNotice, deps: Deps) -> None:
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
        ),
        settings.public_base_url,
    )
    domain = default_address.rpartition("@")[2]
    email = OutgoingEmail(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{notice.connection_id}/{notice.generation}")),
        company_id=notice.company_id,
        event_id=f"gmail-broken-{notice.generation}",
        subject=text.subject,
        to=notice.recipients,
        text=text.text,
        html=text.html,
        message_id=notice_message_id(notice.connection_id, notice.generation, domain),
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
