"""Send one stored email through its route's transport and record what happened.

Gmail adds three turns to the default path: the connection must still be active when the email
is claimed; the email must get its account's pacing slot and a lease under the account's caps
(`core.pacing`); and a send may find the authorization gone. Then one conditional UPDATE breaks
the connection; only its winner publishes `AuthBroken`; the email fails `gmail_not_connected` (or
goes to the default sender when the company chose so). Transient errors retry with backoff;
a wait longer than a few minutes is parked in PostgreSQL for the clock instead of a queue delay.

Pacing never waits in a thread: an email whose slot is ahead (or whose account is at its
concurrency cap) is put back on the queue with a delay and the thread moves on; one past the
daily cap is parked until the window frees, or goes from the default address when the company
chose "send from the default address while Gmail is not usable".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

import structlog

from mailroute.core.errors import GmailAuthBrokenError, PermanentError, TransientError
from mailroute.core.mime import build_message, envelope_address, from_header
from mailroute.core.model import Route
from mailroute.core.pacing import (
    DailyCapReached,
    ParkForSlot,
    SendNow,
    WaitForSlot,
    daily_cap_message,
    decide_slot,
    why_refused,
)
from mailroute.core.ports import Envelope, MessageTransport, ProviderReceipt
from mailroute.core.records import Claim, SenderContext
from mailroute.core.retry import decide_retry
from mailroute.core.routing import decide_route
from mailroute.services.breaks import break_connection
from mailroute.services.dependencies import Dependencies

log = structlog.get_logger(__name__)


def send_stored_email(email_id: str, *, route: Route, claim_key: str, deps: Dependencies) -> str:
    """Claim, send, record. Returns the email's status after this attempt."""
    structlog.contextvars.bind_contextvars(email_id=email_id)
    claim = deps.emails.claim(email_id, claim_key, route)
    if claim is None:
        log.info("email.not_claimed", reason="already sent, failed, or in flight elsewhere")
        return "skipped"
    structlog.contextvars.bind_contextvars(company_id=claim.email.company_id)
    if claim.possible_duplicate:
        log.warning("email.possible_duplicate", attempts=claim.attempts)
    context: SenderContext | None = None
    transport: MessageTransport
    lease: str | None = None  # the Gmail connection whose send lease this attempt holds
    if route == "gmail":
        context = claim.sender or deps.sender_context(claim.email.company_id)
        if not _gmail_usable(context) or deps.gmail is None:
            return _not_usable(claim, claim_key, context, deps)
        assert context is not None
        assert context.connection_id is not None
        assert context.connection_generation is not None
        if deps.pacing is not None:
            waiting = _pace(claim, claim_key, context, deps)
            if waiting is not None:
                return waiting
            lease = context.connection_id
        transport = deps.gmail.for_connection(context.connection_id, context.connection_generation)
        mail_from = parseaddr(claim.from_address)[1]
    else:
        transport = deps.transports[route]
        mail_from = parseaddr(deps.settings.default_from)[1]
    # The Gmail API takes Bcc from the message (and strips it); SMTP takes it as envelope only.
    message = build_message(claim.email, from_=claim.from_address, include_bcc=route == "gmail")
    envelope = Envelope(
        mail_from=mail_from,
        recipients=tuple(envelope_address(r) for r in claim.email.recipients),
    )
    try:
        receipt = _send(transport, message.as_bytes(), envelope, claim, lease, deps)
    except GmailAuthBrokenError as exc:
        assert context is not None
        return _auth_broken(claim, claim_key, context, exc, deps)
    except TransientError as exc:
        return _retry_or_fail(claim, claim_key, exc, deps)
    except PermanentError as exc:
        return _fail(deps, claim.email.id, claim_key, exc.code, exc.message)
    outbox_id = deps.emails.mark_sent(  # gives the account's send lease back in the same statement
        claim,
        claim_key,
        provider_message_id=receipt.message_id,
        provider_thread_id=receipt.thread_id,
        release_lease=lease,
    )
    if outbox_id is not None:
        deps.outbox.publish_stored([outbox_id])
    # Reported on the message's `message.done` line (one line per message, not two).
    structlog.contextvars.bind_contextvars(
        email_status="sent", route=route, attempts=claim.attempts
    )
    return "sent"


def _send(
    transport: MessageTransport,
    message: bytes,
    envelope: Envelope,
    claim: Claim,
    lease: str | None,
    deps: Dependencies,
) -> ProviderReceipt:
    """Hand the message over. A Gmail send that fails gives its account lease back at once;
    one that succeeds gives it back with the statement that records it (`mark_sent`)."""
    try:
        return transport.send(message, envelope)
    except BaseException:
        if lease is not None and deps.pacing is not None:
            deps.pacing.end_send(lease, claim.email.id)
        raise


def _pace(claim: Claim, claim_key: str, context: SenderContext, deps: Dependencies) -> str | None:
    """Take the email's slot on its Gmail account and a lease under the account's caps.

    None: send now (the lease is held; `_send` gives it back). Otherwise the email was put back
    to wait (a delayed message, or parked for the clock) or went to the default sender, and the
    status to return is given. Nothing here sleeps."""
    assert deps.pacing is not None
    assert context.connection_id is not None
    email_id = claim.email.id
    reservation = deps.pacing.reserve(context.connection_id, email_id, deps.pacing_policy)
    policy = reservation.policy
    decision = decide_slot(reservation.slot, reservation.now, policy)
    if isinstance(decision, WaitForSlot):
        if deps.emails.mark_paced(
            email_id, claim_key, slot=decision.slot, due=decision.slot, parked=False
        ):
            _requeue(deps, claim, "gmail", decision.delay_seconds)
        _paced(deps, "slot", decision.delay_seconds, held=reservation.held)
        return "paced"
    if isinstance(decision, ParkForSlot):
        deps.emails.mark_paced(
            email_id, claim_key, slot=decision.slot, due=decision.due, parked=True
        )
        _paced(deps, "slot_parked", (decision.slot - reservation.now).total_seconds(), held=True)
        return "paced"
    assert isinstance(decision, SendNow)
    start = deps.pacing.start_send(context.connection_id, email_id, policy)
    if start.started:
        return None
    refusal = why_refused(start, policy)
    if not isinstance(refusal, DailyCapReached):
        # At the concurrency cap: back soon, still holding its (due) slot.
        due = start.now + timedelta(seconds=refusal.delay_seconds)
        if deps.emails.mark_paced(email_id, claim_key, slot=decision.slot, due=due, parked=False):
            _requeue(deps, claim, "gmail", refusal.delay_seconds)
        _paced(deps, "concurrency", refusal.delay_seconds, in_flight=start.in_flight)
        return "paced"
    wait = (refusal.frees_at - start.now).total_seconds()
    if context.company.default_while_gmail_broken:
        from_address = from_header(context.company.name, parseaddr(deps.settings.default_from)[1])
        if deps.emails.reroute(email_id, claim_key, route="default", from_address=from_address):
            _requeue(deps, claim, "default")
        _paced(deps, "daily_cap_default", 0.0, sent_today=refusal.sent_in_window)
        return "rerouted"
    address = context.connection.address if context.connection else None
    deps.emails.mark_paced(
        email_id,
        claim_key,
        slot=None,
        due=refusal.frees_at,
        parked=True,
        code="gmail_daily_cap",
        message=daily_cap_message(address, policy.daily_cap, refusal.frees_at),
    )
    _paced(deps, "daily_cap", wait, sent_today=refusal.sent_in_window)
    return "paced"


def _paced(deps: Dependencies, reason: str, delay_seconds: float, **fields: object) -> None:
    log.info("gmail.paced", reason=reason, delay_s=round(delay_seconds, 3), **fields)
    if deps.pacing_metrics is not None:
        deps.pacing_metrics.paced(reason, delay_seconds)


def _gmail_usable(context: SenderContext | None) -> bool:
    return (
        context is not None
        and context.connection is not None
        and context.connection.state == "active"
        and context.connection_id is not None
        and context.connection_generation is not None
    )


def _auth_broken(
    claim: Claim,
    claim_key: str,
    context: SenderContext,
    exc: GmailAuthBrokenError,
    deps: Dependencies,
) -> str:
    """The authorization is gone: break the connection (the one break path), then route."""
    assert context.connection_id is not None
    assert context.connection_generation is not None
    break_connection(
        deps.breaks,
        deps.outbox,
        connection_id=context.connection_id,
        generation=context.connection_generation,
        reason=exc.reason,
        correlation_id=claim.correlation_id or claim.email.id,
    )
    fresh = deps.sender_context(claim.email.company_id)
    return _not_usable(claim, claim_key, fresh, deps)


def _not_usable(
    claim: Claim,
    claim_key: str,
    context: SenderContext | None,
    deps: Dependencies,
) -> str:
    """Gmail cannot take this email now: fail it, or hand it to the route the rules choose."""
    email = claim.email
    default_while_broken = bool(context and context.company.default_while_gmail_broken)
    decision = decide_route(
        "gmail", context.connection if context else None, default_while_broken=default_while_broken
    )
    if decision.route is None:
        assert decision.error_code is not None
        assert decision.error_message is not None
        status = _fail(deps, email.id, claim_key, decision.error_code, decision.error_message)
        deps.emails.note_broken_generation(
            email.id, context.connection_generation if context else None
        )
        return status
    if decision.route == "default":
        name = context.company.name if context else ""
        from_address = from_header(name, parseaddr(deps.settings.default_from)[1])
    else:  # re-authorized meanwhile: back on the Gmail queue
        from_address = claim.from_address
    if deps.emails.reroute(email.id, claim_key, route=decision.route, from_address=from_address):
        _requeue(deps, claim, decision.route)
        log.info("email.rerouted", route=decision.route)
    return "rerouted"


def _requeue(deps: Dependencies, claim: Claim, route: Route, delay_seconds: float = 0.0) -> None:
    deps.queue.schedule_send(
        route, claim.email.id, delay_seconds, correlation_id=claim.correlation_id
    )


def _retry_or_fail(claim: Claim, claim_key: str, exc: TransientError, deps: Dependencies) -> str:
    now = datetime.now(UTC)
    policy = deps.gmail_retry_policy if claim.route == "gmail" else deps.retry_policy
    decision = decide_retry(exc, claim.attempts, policy, now)
    if not decision.retry:
        return _fail(
            deps,
            claim.email.id,
            claim_key,
            exc.code,
            f"{exc.message} (gave up after {claim.attempts} attempts)",
        )
    due = now + timedelta(seconds=decision.delay_seconds)
    parked = decision.delay_seconds > deps.max_scheduled_delay_seconds
    deps.emails.mark_retrying(
        claim.email.id, claim_key, code=exc.code, message=exc.message, due=due, parked=parked
    )
    if parked:
        log.warning("email.retry_parked", error_code=exc.code, due=due.isoformat())
        return "retrying"
    _requeue(deps, claim, claim.route, decision.delay_seconds)
    log.warning(
        "email.retry_scheduled",
        error_code=exc.code,
        attempts=claim.attempts,
        delay_s=round(decision.delay_seconds, 1),
    )
    return "retrying"


def _fail(deps: Dependencies, email_id: str, claim_key: str, code: str, message: str) -> str:
    outbox_id = deps.emails.mark_failed(email_id, claim_key, code=code, message=message)
    if outbox_id is not None:
        deps.outbox.publish_stored([outbox_id])
    log.warning("email.failed", error_code=code)
    return "failed"
