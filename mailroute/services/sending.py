"""Send one stored email through its route's transport and record what happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

import structlog

from mailroute.core.errors import PermanentError, TransientError
from mailroute.core.mime import build_message, envelope_address
from mailroute.core.model import Route
from mailroute.core.ports import Envelope
from mailroute.core.retry import decide_retry
from mailroute.services.deps import Deps

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
    message = build_message(claim.email, from_=claim.from_address)
    if route == "default":
        mail_from = parseaddr(deps.settings.default_from)[1]
    else:
        mail_from = parseaddr(claim.from_address)[1]
    envelope = Envelope(
        mail_from=mail_from,
        recipients=tuple(envelope_address(r) for r in claim.email.recipients),
    )
    transport = deps.transports[route]
    try:
        receipt = transport.send(message.as_bytes(), envelope)
    except TransientError as exc:
        now = datetime.now(UTC)
        decision = decide_retry(exc, claim.attempts, deps.retry_policy, now)
        if decision.retry:
            due = now + timedelta(seconds=decision.delay_seconds)
            deps.emails.mark_retrying(
                email_id, claim_key, code=exc.code, message=exc.message, due=due
            )
            deps.scheduler.schedule_send(route, email_id, decision.delay_seconds)
            log.warning(
                "email.retry_scheduled",
                error_code=exc.code,
                attempts=claim.attempts,
                delay_s=round(decision.delay_seconds, 1),
            )
            return "retrying"
        return _fail(
            deps,
            email_id,
            claim_key,
            exc.code,
            f"{exc.message} (gave up after {claim.attempts} attempts)",
        )
    except PermanentError as exc:
        return _fail(deps, email_id, claim_key, exc.code, exc.message)
    outbox_id = deps.emails.mark_sent(
        claim,
        claim_key,
        provider_message_id=receipt.message_id,
        provider_thread_id=receipt.thread_id,
    )
    if outbox_id is not None:
        deps.outcomes.publish_stored([outbox_id])
    log.info("email.sent", route=route, attempts=claim.attempts)
    return "sent"


def _fail(deps: Deps, email_id: str, claim_key: str, code: str, message: str) -> str:
    outbox_id = deps.emails.mark_failed(email_id, claim_key, code=code, message=message)
    if outbox_id is not None:
        deps.outcomes.publish_stored([outbox_id])
    log.warning("email.failed", error_code=code)
    return "failed"
