"""Many emails of one route a message. The default route (`send_many_via_smtp`): one claim
statement, the sends over the kept SMTP connection, one statement recording the sent ones; every
other end of an email is `services.sending`'s, taken for that email alone. A mailbox route
(`send_many_via_gmail`, `send_many_via_microsoft`): each email sent as its own message would
send it (its claim, its mailbox's pacing turn, its outcome), one after the other."""

from __future__ import annotations

from collections import Counter
from email.utils import parseaddr

import structlog

from mailroute.core.errors import PermanentError
from mailroute.core.model import Route
from mailroute.core.ports import MessageTransport, ProviderReceipt
from mailroute.core.records import Claim
from mailroute.events import queues
from mailroute.events.ids import UUID_MESSAGE, is_canonical_uuid
from mailroute.services.dependencies import Dependencies
from mailroute.services.sending import deliver, send_stored_email

log = structlog.get_logger(__name__)


class UnreadableBatchError(PermanentError):
    """A batch message that is not a list of email ids; never retried."""

    code = "unreadable_message"


def batch_of_ids(value: object) -> list[str]:
    """The email ids a batch message carries: a list of 1 to `queues.BATCH_LIMIT` canonical
    UUID strings, each once, or `UnreadableBatchError` naming the first rule broken."""
    if not isinstance(value, list) or not value:
        raise UnreadableBatchError("email_ids: a non-empty list of email ids (uuid)")
    if len(value) > queues.BATCH_LIMIT:
        raise UnreadableBatchError(f"email_ids: at most {queues.BATCH_LIMIT} ids a message")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not is_canonical_uuid(item):
            raise UnreadableBatchError(f"email_ids[{index}]: {UUID_MESSAGE} (uuid)")
    if len(set(value)) != len(value):
        raise UnreadableBatchError("email_ids: each id once")
    return list(value)


def send_stored_emails(email_ids: list[str], *, claim_key: str, deps: Dependencies) -> Counter[str]:
    """The default route, many emails a message: claim them in one statement, send each over
    the kept SMTP connection, record the sent ones in one statement. Returns how many ended
    each way.

    Every email keeps its own promises: its own claim (of many deliveries of it, only one
    sends), and an outcome each. Anything but a send ends the email at once, as
    `send_stored_email` does (a refused recipient fails it, a transient error retries it on
    its own message). The sends are recorded even when the batch stops on an error, and the
    claims of emails not yet sent are given back, so a redelivery sends those as first
    attempts, never as possible duplicates. Only a worker killed mid-batch leaves its claims
    to its redelivery, which flags them possible duplicates, as it does for one email."""
    outcomes: Counter[str] = Counter()
    claims = deps.emails.claim_many(email_ids, claim_key, "default")
    outcomes["skipped"] = len(email_ids) - len(claims)
    transport = deps.transports["default"]
    mail_from = parseaddr(deps.settings.default_from)[1]
    sent: list[tuple[Claim, ProviderReceipt]] = []
    started = 0
    try:
        for claim in claims:
            started += 1
            outcomes[_send_default(claim, claim_key, transport, mail_from, sent, deps)] += 1
    finally:
        unstarted = [claim.email.id for claim in claims[started:]]
        if unstarted:
            deps.emails.release_claims(unstarted, claim_key)
        outbox_ids = deps.emails.mark_sent_many(sent, claim_key)
        if outbox_ids:
            deps.outbox.publish_stored(outbox_ids)
    structlog.contextvars.bind_contextvars(
        emails=len(email_ids), route="default", **{f"emails_{k}": v for k, v in outcomes.items()}
    )
    return outcomes


def _send_default(
    claim: Claim,
    claim_key: str,
    transport: MessageTransport,
    mail_from: str,
    sent: list[tuple[Claim, ProviderReceipt]],
    deps: Dependencies,
) -> str:
    """One claimed email of a batch: sent (appended to `sent`, recorded with the batch), or
    ended now the way `send_stored_email` ends it."""
    if claim.possible_duplicate:
        log.warning("email.possible_duplicate", email_id=claim.email.id, attempts=claim.attempts)
    with structlog.contextvars.bound_contextvars(email_id=claim.email.id):
        result = deliver(
            claim, claim_key, transport, mail_from, mailbox=None, lease=None, deps=deps
        )
    if isinstance(result, str):
        return result
    sent.append((claim, result))
    return "sent"


def send_mailbox_batch(
    email_ids: list[str], *, route: Route, claim_key: str, deps: Dependencies
) -> Counter[str]:
    """A mailbox route's batch: each email through `send_stored_email`, in order. An error that
    stops the batch leaves the emails after it unclaimed, for dramatiq's retry of the message
    (the ones already sent are not claimable again)."""
    outcomes: Counter[str] = Counter()
    for email_id in email_ids:
        try:
            outcomes[send_stored_email(email_id, route=route, claim_key=claim_key, deps=deps)] += 1
        finally:
            structlog.contextvars.unbind_contextvars(
                "email_id", "company_id", "email_status", "attempts"
            )
    structlog.contextvars.bind_contextvars(
        emails=len(email_ids), route=route, **{f"emails_{k}": v for k, v in outcomes.items()}
    )
    return outcomes
