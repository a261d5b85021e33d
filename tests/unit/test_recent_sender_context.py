"""Routing a new email may use its company's context as read up to a second ago, but only for a
route to send on: a failure is always decided on a fresh read."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from mailroute.adapters.db.companies import RecentSenderContexts
from mailroute.core.records import Company, Mailbox, SenderContext
from mailroute.core.routing import MailboxView
from mailroute.events import EmailRequested
from mailroute.services.requested import _route

COMPANY = Company(id="00000000-0000-0000-0000-00000000000a", name="Acme", reply_to="a@acme.example")
ACTIVE = SenderContext(
    COMPANY, (Mailbox("conn-1", 2, MailboxView("active", "owner@acme.example")),)
)
BROKEN = SenderContext(
    COMPANY,
    (Mailbox("conn-1", 1, MailboxView("not_connected", "owner@acme.example", "revoked")),),
)


class Reads:
    """A stand-in for the database read: answers from `current`, counts calls."""

    def __init__(self, current: SenderContext | None) -> None:
        self.current = current
        self.count = 0

    def __call__(self, company_id: str) -> SenderContext | None:
        self.count += 1
        return self.current


def _request(sender: str = "gmail") -> EmailRequested:
    return EmailRequested.model_validate(
        {
            "event_id": "evt-1",
            "company_id": COMPANY.id,
            "kind": "invoice",
            "sender": sender,
            "to": ["client@example.com"],
            "subject": "Invoice 1",
            "text": "Hello",
        }
    )


def _deps(recent: Any, fresh: Any) -> Any:
    return SimpleNamespace(recent_sender_context=recent, sender_context=fresh)


def test_a_context_is_reused_within_its_age_and_read_again_after() -> None:
    reads = Reads(ACTIVE)
    recent = RecentSenderContexts(reads, max_age=0.2)

    assert recent(COMPANY.id) is ACTIVE
    assert recent(COMPANY.id) is ACTIVE
    assert reads.count == 1
    time.sleep(0.25)
    recent(COMPANY.id)
    assert reads.count == 2


def test_an_unknown_company_is_read_again_every_time() -> None:
    reads = Reads(None)
    recent = RecentSenderContexts(reads)

    assert recent(COMPANY.id) is None
    assert recent(COMPANY.id) is None
    assert reads.count == 2


def test_a_route_to_send_on_is_taken_from_the_recent_read() -> None:
    fresh = Reads(BROKEN)  # would fail the email, but is not asked
    routed = _route(_request(), _deps(RecentSenderContexts(Reads(ACTIVE)), fresh))

    assert routed is not None
    assert routed[1].route == "gmail"
    assert fresh.count == 0


def test_a_failure_on_the_recent_read_is_decided_again_on_a_fresh_read() -> None:
    recent = RecentSenderContexts(Reads(BROKEN))  # read just before the admin re-authorized
    fresh = Reads(ACTIVE)
    routed = _route(_request(), _deps(recent, fresh))

    assert routed is not None
    context, decision = routed
    assert decision.route == "gmail"
    mailbox = context.mailbox("gmail")
    assert mailbox is not None
    assert mailbox.generation == 2
    assert fresh.count == 1


def test_an_unknown_company_on_both_reads_routes_nowhere() -> None:
    routed = _route(_request(), _deps(RecentSenderContexts(Reads(None)), Reads(None)))

    assert routed is None
