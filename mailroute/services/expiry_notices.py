"""Telling a company's admins, and whoever connected the mailbox, once per connection
generation, that its refresh token ends soon: the clock's job.

The trigger is time passing, which only the clock sees, so the clock opens the notices of the
connections that entered the window (`core.expiry`) and sends them itself through the default
SMTP sender: there is no state change to publish with a commit (what the outbox is for), and
the notice row's own lock and status make it once across clocks; a send that fails stays
pending for the next tick. A connection re-authorized meanwhile (a new generation) or whose
end has passed (the break notice will say it) is not told.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

import structlog

from mailroute.core.errors import MailrouteError
from mailroute.core.expiry import EXPIRES_SOON_WINDOW, enters_window
from mailroute.core.expiry_notice_text import (
    EndingConnection,
    expiry_notice,
    expiry_notice_message_id,
)
from mailroute.core.expiry_ports import DueExpiryNotice, ExpiryNotices
from mailroute.core.mime import build_message, envelope_address
from mailroute.core.model import OutgoingEmail
from mailroute.core.ports import Envelope, MessageTransport

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class NoticeSender:
    """Where the notice comes from and what it links to; `hang_up` closes the calling
    thread's SMTP connection (notices are rare: none is kept open between ticks)."""

    default_from: str
    public_base_url: str
    transport: MessageTransport
    hang_up: Callable[[], None] = lambda: None


class ExpiryNoticeService:
    def __init__(
        self,
        notices: ExpiryNotices,
        sender: NoticeSender,
        *,
        window: timedelta = EXPIRES_SOON_WINDOW,
        per_tick: int = 20,
    ) -> None:
        self._notices = notices
        self._sender = sender
        self._window = window
        self._per_tick = per_tick

    def send_due(self) -> int:
        """Open the notices of connections that entered the window, then send those pending
        (a few a tick); how many were sent now. A failed send is logged and kept pending."""
        opened = self._notices.open_due(self._window)
        if opened:
            log.info("expiry_notice.opened", count=opened)
        due = self._notices.pending(self._per_tick)
        sent = 0
        try:
            for connection_id, generation in due:
                sent += self._deliver(connection_id, generation)
        finally:
            if due:
                self._sender.hang_up()
        return sent

    def _deliver(self, connection_id: str, generation: int) -> bool:
        try:
            outcome = self._notices.deliver_once(connection_id, generation, self._send)
        except MailrouteError as exc:
            log.warning("expiry_notice.failed", connection_id=connection_id, code=exc.code)
            return False
        log.info(
            "expiry_notice.handled",
            connection_id=connection_id,
            generation=generation,
            outcome=outcome,
        )
        return outcome == "sent"

    def _send(self, notice: DueExpiryNotice) -> bool:
        if not enters_window(notice.expires_at, now=datetime.now(UTC), window=self._window):
            return False  # ended meanwhile: the break notice says it
        if not notice.recipients:
            log.warning("expiry_notice.no_recipients", company_id=notice.company_id)
            return False
        default_address = parseaddr(self._sender.default_from)[1]
        text = expiry_notice(
            EndingConnection(
                company_name=notice.company_name,
                address=notice.address,
                expires_at=notice.expires_at,
                provider=notice.provider,
            ),
            self._sender.public_base_url,
        )
        domain = default_address.rpartition("@")[2]
        key = f"{notice.connection_id}/{notice.generation}/expires"
        email = OutgoingEmail(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
            company_id=notice.company_id,
            event_id=f"{notice.provider}-expires-{notice.generation}",
            subject=text.subject,
            to=notice.recipients,
            text=text.text,
            html=text.html,
            message_id=expiry_notice_message_id(
                notice.connection_id, notice.generation, domain, notice.provider
            ),
        )
        message = build_message(email, from_=self._sender.default_from)
        envelope = Envelope(
            mail_from=default_address,
            recipients=tuple(envelope_address(r) for r in notice.recipients),
        )
        self._sender.transport.send(message.as_bytes(), envelope)
        log.info(
            "expiry_notice.sent",
            company_id=notice.company_id,
            recipients=len(notice.recipients),
            attempt=notice.attempts + 1,
        )
        return True
