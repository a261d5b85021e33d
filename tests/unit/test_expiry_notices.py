"""The clock's advance notices, against an in-memory notice store and transport: what is sent,
to whom, and what is dropped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes

from mailroute.core.errors import TransientError
from mailroute.core.expiry_ports import DueExpiryNotice, ExpiryOutcome
from mailroute.core.ports import Envelope, ProviderReceipt
from mailroute.services.expiry_notices import ExpiryNoticeService, NoticeSender


class FakeNotices:
    def __init__(self, notice: DueExpiryNotice) -> None:
        self.notice = notice
        self.status = "pending"
        self.windows: list[timedelta] = []

    def open_due(self, window: timedelta) -> int:
        self.windows.append(window)
        return 0

    def pending(self, limit: int) -> list[tuple[str, int]]:
        return [(self.notice.connection_id, self.notice.generation)][:limit] * (
            self.status == "pending"
        )

    def deliver_once(
        self, connection_id: str, generation: int, send: Callable[[DueExpiryNotice], bool]
    ) -> ExpiryOutcome:
        if self.status != "pending":
            return "already_handled"
        self.status = "sent" if self.notice.still_active and send(self.notice) else "dropped"
        return "sent" if self.status == "sent" else "dropped"


class FakeTransport:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[bytes, Envelope]] = []
        self.fail = fail

    def send(self, message: bytes, envelope: Envelope) -> ProviderReceipt:
        if self.fail:
            raise TransientError("the SMTP server is away", code="smtp_unavailable")
        self.sent.append((message, envelope))
        return ProviderReceipt()


def _notice(ends_in: timedelta, *, active: bool = True) -> DueExpiryNotice:
    return DueExpiryNotice(
        connection_id="c1",
        generation=2,
        company_id="co1",
        company_name="Acme Ltd",
        address="billing@acme.example",
        expires_at=datetime.now(UTC) + ends_in,
        recipients=("Admin <admin@acme.example>", "owner@acme.example"),
        attempts=0,
        still_active=active,
    )


def _service(notices: FakeNotices, transport: FakeTransport) -> ExpiryNoticeService:
    sender = NoticeSender("mailroute <no-reply@mailroute.example>", "https://m.example", transport)
    return ExpiryNoticeService(notices, sender)


def test_a_due_notice_goes_once_to_the_admins_and_the_connector() -> None:
    notices, transport = FakeNotices(_notice(timedelta(days=2))), FakeTransport()
    service = _service(notices, transport)

    sent = service.send_due() + service.send_due()

    assert sent == 1
    message, envelope = transport.sent[0]
    assert envelope.recipients == ("admin@acme.example", "owner@acme.example")
    assert envelope.mail_from == "no-reply@mailroute.example"
    parsed = message_from_bytes(message)
    assert parsed["Message-ID"] == "<gmail-expires-c1-2@mailroute.example>"
    assert "billing@acme.example" in parsed["Subject"]


def test_a_notice_whose_end_passed_is_dropped_for_the_break_notice() -> None:
    notices, transport = FakeNotices(_notice(-timedelta(minutes=1))), FakeTransport()

    assert _service(notices, transport).send_due() == 0
    assert notices.status == "dropped"
    assert transport.sent == []


def test_a_failed_send_stays_pending_for_the_next_tick() -> None:
    notices = FakeNotices(_notice(timedelta(days=1)))
    transport = FakeTransport(fail=True)
    service = _service(notices, transport)

    try:
        sent = service.send_due()
    finally:
        transport.fail = False

    assert sent == 0
    assert _service(notices, transport).send_due() == 1
