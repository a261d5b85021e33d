"""Send one stored email through its route's transport and record what happened.

A mailbox route (any provider in `core.providers`: Gmail, Microsoft 365) adds three turns to
the default path: the connection must still be active when the email is claimed; the email must
get its mailbox's pacing slot and a lease under the mailbox's caps (`services.mailbox_turns`);
and a send may find the authorization gone, or its stored token unreadable (a key removed from
TOKEN_ENCRYPTION_KEYS). Then one conditional UPDATE breaks the connection; only its winner
publishes `AuthBroken`; the email fails `<provider>_not_connected` (or goes to the default
sender when the company chose so). Transient errors retry with backoff;
a wait longer than a few minutes is parked in PostgreSQL for the clock instead of a queue delay.

A message that cannot be built from what is stored (a bug, or data no rule caught) fails the
email at once with `internal_error`: the same data fails the same way on every attempt.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

import structlog

from mailroute.core.connection import BrokenReason
from mailroute.core.errors import (
    MailboxAuthBrokenError,
    PermanentError,
    TokenDecryptionError,
    TransientError,
)
from mailroute.core.mime import build_message, envelope_address, from_header
from mailroute.core.model import Route
from mailroute.core.ports import Envelope, MessageTransport, ProviderReceipt
from mailroute.core.records import Claim, Mailbox, SenderContext
from mailroute.core.retry import decide_retry
from mailroute.core.routing import decide_route
from mailroute.services.breaks import break_connection
from mailroute.services.dependencies import Dependencies
from mailroute.services.mailbox_turns import Turn, requeue, take_turn

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
    mailbox: Mailbox | None = None
    transport: MessageTransport
    lease: str | None = None  # the mailbox connection whose send lease this attempt holds
    if route != "default":
        context = claim.sender or deps.sender_context(claim.email.company_id)
        mailbox = context.mailbox(route) if context is not None else None
        transports = deps.mailboxes.get(route)
        if context is None or mailbox is None or mailbox.view.state != "active" or not transports:
            return _not_usable(claim, claim_key, context, deps)
        if deps.pacing is not None:
            waiting = take_turn(Turn(claim, claim_key, context, mailbox), deps)
            if waiting is not None:
                return waiting
            lease = mailbox.id
        transport = transports.for_connection(mailbox.id, mailbox.generation)
        mail_from = parseaddr(claim.from_address)[1]
    else:
        transport = deps.transports[route]
        mail_from = parseaddr(deps.settings.default_from)[1]
    result = deliver(
        claim, claim_key, transport, mail_from, mailbox=mailbox, lease=lease, deps=deps
    )
    if isinstance(result, str):
        return result
    receipt = result
    outbox_id = deps.emails.mark_sent(  # gives the account's send lease back in the same statement
        claim,
        claim_key,
        provider_message_id=receipt.message_id,
        provider_thread_id=receipt.thread_id,
        release_lease=lease,
        submitted_only=receipt.submitted_only,
    )
    if outbox_id is not None:
        deps.outbox.publish_stored([outbox_id])
    # Reported on the message's `message.done` line (one line per message, not two).
    structlog.contextvars.bind_contextvars(
        email_status="sent", route=route, attempts=claim.attempts
    )
    return "sent"


def deliver(
    claim: Claim,
    claim_key: str,
    transport: MessageTransport,
    mail_from: str,
    *,
    mailbox: Mailbox | None,
    lease: str | None,
    deps: Dependencies,
) -> ProviderReceipt | str:
    """Build one claimed email and hand it over: the provider's receipt, or the status the
    email was left in when it could not be sent (failed, retrying, rerouted after a break).
    The one set of ends every sender shares, one email a message or many (`batch_sending`)."""
    try:
        message, envelope = _build(claim, claim.route, mail_from)
    except Exception as exc:  # noqa: BLE001 - whatever broke, it breaks again: fail, say why
        return _unbuildable(claim, claim_key, lease, exc, deps)
    try:
        return _send(transport, message, envelope, claim, lease, deps)
    except MailboxAuthBrokenError as exc:
        assert mailbox is not None
        return _auth_broken(claim, claim_key, mailbox, exc.reason, deps)
    except TokenDecryptionError:
        assert mailbox is not None
        log.error("mailbox.token_undecryptable", connection_id=mailbox.id)
        return _auth_broken(claim, claim_key, mailbox, BrokenReason.TOKEN_UNREADABLE, deps)
    except TransientError as exc:
        return _retry_or_fail(claim, claim_key, exc, deps)
    except PermanentError as exc:
        return _fail(deps, claim.email.id, claim_key, exc.code, exc.message)


def _build(claim: Claim, route: Route, mail_from: str) -> tuple[bytes, Envelope]:
    """The message as it goes on the wire, and its envelope. Mailbox APIs (Gmail's, Graph's
    MIME sendMail) take Bcc from the message (and strip it); SMTP takes it as envelope only."""
    message = build_message(claim.email, from_=claim.from_address, include_bcc=route != "default")
    envelope = Envelope(
        mail_from=mail_from,
        recipients=tuple(envelope_address(r) for r in claim.email.recipients),
    )
    if not envelope.recipients:
        raise ValueError("the stored email has no recipient")
    return message.as_bytes(), envelope


def _unbuildable(
    claim: Claim, claim_key: str, lease: str | None, exc: Exception, deps: Dependencies
) -> str:
    """The message could not be built: nothing was sent, and no attempt would do better."""
    if lease is not None and deps.pacing is not None:
        deps.pacing.end_send(lease, claim.email.id)
    log.error("email.build_failed", error=type(exc).__name__, exc_info=exc)
    detail = f"{type(exc).__name__}: {exc}"[:300]
    return _fail(
        deps,
        claim.email.id,
        claim_key,
        "internal_error",
        f"mailroute could not build the message from this email's stored data ({detail}),"
        " so nothing was sent. Sending it again fails the same way until the data or"
        " mailroute is fixed.",
    )


def _send(
    transport: MessageTransport,
    message: bytes,
    envelope: Envelope,
    claim: Claim,
    lease: str | None,
    deps: Dependencies,
) -> ProviderReceipt:
    """Hand the message over. A mailbox send that fails gives its account lease back at once;
    one that succeeds gives it back with the statement that records it (`mark_sent`)."""
    try:
        return transport.send(message, envelope)
    except BaseException:
        if lease is not None and deps.pacing is not None:
            deps.pacing.end_send(lease, claim.email.id)
        raise


def _auth_broken(
    claim: Claim,
    claim_key: str,
    mailbox: Mailbox,
    reason: str,
    deps: Dependencies,
) -> str:
    """The authorization is gone (or unreadable): break the connection through the one break
    path, then route the email as the broken connection's rules say."""
    break_connection(
        deps.breaks,
        deps.outbox,
        connection_id=mailbox.id,
        generation=mailbox.generation,
        reason=reason,
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
    """The mailbox cannot take this email now: fail it, or hand it to the route the rules
    choose."""
    email = claim.email
    default_while_broken = bool(context and context.company.default_while_gmail_broken)
    decision = decide_route(
        claim.route, context.views if context else [], default_while_broken=default_while_broken
    )
    if decision.route is None:
        assert decision.error_code is not None
        assert decision.error_message is not None
        status = _fail(deps, email.id, claim_key, decision.error_code, decision.error_message)
        mailbox = context.mailbox(claim.route) if context else None
        deps.emails.note_broken_generation(email.id, mailbox.generation if mailbox else None)
        return status
    if decision.route == "default":
        name = context.company.name if context else ""
        from_address = from_header(name, parseaddr(deps.settings.default_from)[1])
    else:  # re-authorized meanwhile: back on the mailbox's queue
        from_address = claim.from_address
    if deps.emails.reroute(email.id, claim_key, route=decision.route, from_address=from_address):
        requeue(deps, claim, decision.route)
        log.info("email.rerouted", route=decision.route)
    return "rerouted"


def _retry_or_fail(claim: Claim, claim_key: str, exc: TransientError, deps: Dependencies) -> str:
    now = datetime.now(UTC)
    policy = deps.retry_policy if claim.route == "default" else deps.mailbox_retry_policy
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
    requeue(deps, claim, claim.route, decision.delay_seconds)
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
