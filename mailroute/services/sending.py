"""Send one stored email through its route's transport and record what happened.

Gmail adds two turns to the default path: the connection must still be active when the email is
claimed, and a send may find the authorization gone. Then one conditional UPDATE breaks the
connection; only its winner publishes `AuthBroken`; the email fails `gmail_not_connected` (or
goes to the default sender when the company chose so). Transient errors retry with backoff;
a wait longer than a few minutes is parked in PostgreSQL for the clock instead of a queue delay.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

import structlog

from mailroute.adapters.db.companies import SenderContext
from mailroute.adapters.db.emails import Claim
from mailroute.core.errors import GmailAuthBrokenError, PermanentError, TransientError
from mailroute.core.mime import build_message, envelope_address, from_header
from mailroute.core.model import Route
from mailroute.core.ports import Envelope, MessageTransport
from mailroute.core.retry import decide_retry
from mailroute.core.routing import decide_route
from mailroute.events import AuthBroken
from mailroute.services.deps import Deps
from mailroute.services.notify import request_notice

log = structlog.get_logger(__name__)


def send_stored_email(email_id: str, *, route: Route, claim_key: str, deps: Deps) -> str:
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
    if route == "gmail":
        context = deps.sender_context(claim.email.company_id)
        if not _gmail_usable(context) or deps.gmail is None:
            return _not_usable(claim, claim_key, context, deps, ask_notice=True)
        assert context is not None
        assert context.connection_id is not None
        assert context.connection_generation is not None
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
        receipt = transport.send(message.as_bytes(), envelope)
    except GmailAuthBrokenError as exc:
        assert context is not None
        return _auth_broken(claim, claim_key, context, exc, deps)
    except TransientError as exc:
        return _retry_or_fail(claim, claim_key, exc, deps)
    except PermanentError as exc:
        return _fail(deps, claim.email.id, claim_key, exc.code, exc.message)
    stored = deps.emails.mark_sent(
        claim,
        claim_key,
        provider_message_id=receipt.message_id,
        provider_thread_id=receipt.thread_id,
    )
    if stored is not None:
        deps.outcomes.publish_events([stored])
    log.info("email.sent", route=route, attempts=claim.attempts)
    return "sent"


def _gmail_usable(context: SenderContext | None) -> bool:
    return (
        context is not None
        and context.connection is not None
        and context.connection.state == "active"
        and context.connection_id is not None
        and context.connection_generation is not None
    )


def _auth_broken(
    claim: Claim, claim_key: str, context: SenderContext, exc: GmailAuthBrokenError, deps: Deps
) -> str:
    """The authorization is gone: break the connection (one winner publishes), then route."""
    assert context.connection_id is not None
    assert context.connection_generation is not None
    assert deps.connections is not None
    won = deps.connections.mark_broken(
        context.connection_id, context.connection_generation, exc.reason
    )
    log.warning("gmail.auth_broken", reason=exc.reason, won=won)
    if won and deps.connection_events is not None:
        deps.connection_events.auth_broken(
            AuthBroken(
                connection_id=context.connection_id,
                company_id=claim.email.company_id,
                generation=context.connection_generation,
                reason=exc.reason,
                broken_at=datetime.now(UTC),
            )
        )
    fresh = deps.sender_context(claim.email.company_id)
    return _not_usable(claim, claim_key, fresh, deps, ask_notice=not won)


def _not_usable(
    claim: Claim,
    claim_key: str,
    context: SenderContext | None,
    deps: Deps,
    *,
    ask_notice: bool,
) -> str:
    """Gmail cannot take this email now: fail it, or hand it to the route the rules choose."""
    email = claim.email
    default_while_broken = bool(context and context.company.default_while_gmail_broken)
    decision = decide_route(
        "gmail", context.connection if context else None, default_while_broken=default_while_broken
    )
    if decision.connection_broken and ask_notice and context is not None:
        request_notice(deps, context.connection_id, context.connection_generation)
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
        deps.scheduler.schedule_send(decision.route, email.id)
        log.info("email.rerouted", route=decision.route)
    return "rerouted"


def _retry_or_fail(claim: Claim, claim_key: str, exc: TransientError, deps: Deps) -> str:
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
    if decision.delay_seconds > deps.max_scheduled_delay_seconds:
        deps.emails.mark_parked(
            claim.email.id, claim_key, code=exc.code, message=exc.message, due=due
        )
        log.warning("email.retry_parked", error_code=exc.code, due=due.isoformat())
        return "retrying"
    deps.emails.mark_retrying(
        claim.email.id, claim_key, code=exc.code, message=exc.message, due=due
    )
    deps.scheduler.schedule_send(claim.route, claim.email.id, decision.delay_seconds)
    log.warning(
        "email.retry_scheduled",
        error_code=exc.code,
        attempts=claim.attempts,
        delay_s=round(decision.delay_seconds, 1),
    )
    return "retrying"


def _fail(deps: Deps, email_id: str, claim_key: str, code: str, message: str) -> str:
    outbox_id = deps.emails.mark_failed(email_id, claim_key, code=code, message=message)
    if outbox_id is not None:
        deps.outcomes.publish_stored([outbox_id])
    log.warning("email.failed", error_code=code)
    return "failed"
