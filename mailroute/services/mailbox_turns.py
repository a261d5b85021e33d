"""A claimed mailbox email's turn on its account: the pacing slot and the send lease
(`core.pacing`), or the wait it is put back for. The same for every provider, each with its own
policy (`Dependencies.pacing_policies`); a provider whose daily cap counts recipients counts a
message as its recipients.

Pacing never waits in a thread: an email whose slot is ahead (or whose account is at its
concurrency cap) is put back on the queue with a delay and the thread moves on; one past the
daily cap is parked until the window frees, or goes from the default address when the company
chose "send from the default address while the mailbox is not usable".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr

import structlog

from mailroute.core.mime import from_header
from mailroute.core.model import Route
from mailroute.core.pacing import (
    DailyCapReached,
    ParkForSlot,
    SendNow,
    WaitForSlot,
    daily_cap_message,
    decide_slot,
    send_weight,
    why_refused,
)
from mailroute.core.providers import provider
from mailroute.core.records import Claim, Mailbox, SenderContext
from mailroute.services.dependencies import Dependencies

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Turn:
    """Whose turn it is: the claimed email, on this mailbox of this company."""

    claim: Claim
    claim_key: str
    context: SenderContext
    mailbox: Mailbox


def take_turn(turn: Turn, deps: Dependencies) -> str | None:
    """Take the email's slot on its mailbox and a lease under the mailbox's caps.

    None: send now (the lease is held; the sender gives it back). Otherwise the email was put
    back to wait (a delayed message, or parked for the clock) or went to the default sender,
    and the status to return is given. Nothing here sleeps."""
    assert deps.pacing is not None
    claim, claim_key, mailbox = turn.claim, turn.claim_key, turn.mailbox
    route = claim.route
    email_id = claim.email.id
    base = deps.pacing_policies[mailbox.provider]
    reservation = deps.pacing.reserve(mailbox.id, email_id, base)
    policy = reservation.policy
    decision = decide_slot(reservation.slot, reservation.now, policy)
    if isinstance(decision, WaitForSlot):
        if deps.emails.mark_paced(
            email_id, claim_key, slot=decision.slot, due=decision.slot, parked=False
        ):
            requeue(deps, claim, route, decision.delay_seconds)
        _paced(deps, "slot", decision.delay_seconds, held=reservation.held)
        return "paced"
    if isinstance(decision, ParkForSlot):
        deps.emails.mark_paced(
            email_id, claim_key, slot=decision.slot, due=decision.due, parked=True
        )
        _paced(deps, "slot_parked", (decision.slot - reservation.now).total_seconds(), held=True)
        return "paced"
    assert isinstance(decision, SendNow)
    registered = provider(mailbox.provider)
    weight = send_weight(
        len(claim.email.recipients),
        counts_recipients=registered.counts_recipients,
        daily_cap=policy.daily_cap,
    )
    start = deps.pacing.start_send(mailbox.id, email_id, policy, weight)
    if start.started:
        return None
    refusal = why_refused(start, policy, weight=weight)
    if not isinstance(refusal, DailyCapReached):
        # At the concurrency cap: back soon, still holding its (due) slot.
        due = start.now + timedelta(seconds=refusal.delay_seconds)
        if deps.emails.mark_paced(email_id, claim_key, slot=decision.slot, due=due, parked=False):
            requeue(deps, claim, route, refusal.delay_seconds)
        _paced(deps, "concurrency", refusal.delay_seconds, in_flight=start.in_flight)
        return "paced"
    wait = (refusal.frees_at - start.now).total_seconds()
    company = turn.context.company
    if company.default_while_gmail_broken:
        from_address = from_header(company.name, parseaddr(deps.settings.default_from)[1])
        if deps.emails.reroute(email_id, claim_key, route="default", from_address=from_address):
            requeue(deps, claim, "default")
        _paced(deps, "daily_cap_default", 0.0, sent_today=refusal.sent_in_window)
        return "rerouted"
    deps.emails.mark_paced(
        email_id,
        claim_key,
        slot=None,
        due=refusal.frees_at,
        parked=True,
        code=f"{registered.name}_daily_cap",
        message=daily_cap_message(
            mailbox.view.address,
            policy.daily_cap,
            refusal.frees_at,
            label=registered.label,
            counts_recipients=registered.counts_recipients,
        ),
    )
    _paced(deps, "daily_cap", wait, sent_today=refusal.sent_in_window)
    return "paced"


def _paced(deps: Dependencies, reason: str, delay_seconds: float, **fields: object) -> None:
    log.info("mailbox.paced", reason=reason, delay_s=round(delay_seconds, 3), **fields)
    if deps.pacing_metrics is not None:
        deps.pacing_metrics.paced(reason, delay_seconds)


def requeue(deps: Dependencies, claim: Claim, route: Route, delay_seconds: float = 0.0) -> None:
    """Put the claimed email back on its route's queue (it was handed back by a mark)."""
    deps.queue.schedule_send(
        route, claim.email.id, delay_seconds, correlation_id=claim.correlation_id
    )
