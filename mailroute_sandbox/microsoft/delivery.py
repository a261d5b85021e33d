"""What every Graph send path shares: reading the base64 MIME body, and submitting a message
(Send As, recipients, size, the mailbox's message and recipient rates) into the sent list.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from email.message import EmailMessage
from email.utils import formatdate

import structlog
from starlette.responses import Response

from mailroute_sandbox import clock, mime
from mailroute_sandbox.microsoft import errors
from mailroute_sandbox.microsoft.accounts import MsAccount
from mailroute_sandbox.microsoft.mailbox import MsSentMessage, graph_id
from mailroute_sandbox.microsoft.state import MicrosoftState

log = structlog.get_logger(__name__)
REQUEST_BODY_LIMIT = 4 * 1024 * 1024  # Graph's 4 MB request limit (inline sendMail / drafts)
MAX_RECIPIENTS = 500
SEND_AS_DENIED = (
    "The user account which was used to submit this request does not have the right to send "
    "mail on behalf of the specified sending account., Cannot submit message."
)


def too_large_request() -> Response:
    return errors.graph_error(
        413, "RequestEntityTooLarge", "The maximum request length supported is 4MB."
    )


def message_too_large(limit: int) -> Response:
    return errors.graph_error(
        413,
        "ErrorMessageSizeExceeded",
        f"The message exceeds the maximum supported size of {limit} bytes., "
        "Cannot save changes made to an item to store.",
    )


def decode_mime(body: bytes) -> bytes | Response:
    """The MIME message of a `text/plain` base64 body, or Graph's 400 when it is not base64."""
    text = b"".join(body.split())
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not raw:
        return errors.graph_error(
            400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."
        )
    return raw


def _invalid_recipients(detail: str) -> Response:
    return errors.graph_error(
        400, "ErrorInvalidRecipients", f"At least one recipient isn't valid., {detail}"
    )


def submit(ms: MicrosoftState, account: MsAccount, raw: bytes, via: str) -> Response | None:
    """Send `raw` from `account`: None when it went into the sent list, else Graph's answer."""
    headers = mime.read_headers(raw)
    sender = mime.first_address(headers, "From")
    if sender is not None and not account.may_send_as(sender[1]):
        ms.counters.bump("send_errors", account.key)
        return errors.graph_error(403, "ErrorSendAsDenied", SEND_AS_DENIED)
    for name in ("To", "Cc", "Bcc"):
        if not mime.all_addresses_valid(headers, name):
            return _invalid_recipients(f"The {name} header holds an address that isn't valid.")
    recipients = [a for name in ("To", "Cc", "Bcc") for a in mime.addresses(headers, name)]
    if not recipients:
        return _invalid_recipients("A message can't be sent because it contains no recipients.")
    if len(recipients) > MAX_RECIPIENTS:
        return errors.graph_error(
            400, "ErrorTooManyRecipients", f"The message has more than {MAX_RECIPIENTS} recipients."
        )
    if len(raw) > account.limits.max_message_bytes:
        return message_too_large(account.limits.max_message_bytes)
    refusal = ms.limiter.submit(account.key, account.limits, len(recipients))
    if refusal is not None:
        ms.counters.bump("throttled", account.key)
        log.info("sandbox.microsoft.rate_refused", account=account.key)
        return errors.throttled(refusal.message, refusal.retry_after)
    ms.mailboxes.record(
        MsSentMessage(
            id=graph_id(),
            account=account.key,
            via=via,
            raw=_as_exchange_sends(raw, account, headers, sender is None),
            recipients=recipients,
            received_at=clock.rfc3339(clock.now()),
        )
    )
    ms.counters.bump("sends", account.key)
    log.info("sandbox.microsoft.sent", account=account.key, via=via)
    return None


def _as_exchange_sends(
    raw: bytes, account: MsAccount, headers: EmailMessage, no_from: bool
) -> bytes:
    """Fill what Exchange fills (From, Message-ID, Date) and drop Bcc; untouched otherwise."""
    replace: dict[str, str] = {}
    if no_from:
        replace["From"] = f"{account.name} <{account.email}>"
    if mime.header_text(headers, "Message-ID") is None:
        replace["Message-ID"] = f"<{secrets.token_hex(16)}@sandbox.outlook.test>"
    if mime.header_text(headers, "Date") is None:
        replace["Date"] = formatdate(usegmt=True)
    drop = frozenset({"bcc"}) if mime.addresses(headers, "Bcc") else frozenset()
    return mime.rewrite_headers(raw, replace, drop) if replace or drop else raw
