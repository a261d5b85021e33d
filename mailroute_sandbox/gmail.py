"""The Gmail API's `users.messages.send` JSON path, and what every send path shares: Google's
auth, scope, size, quota and concurrency answers (research §6.5).

Every send path (the JSON one here, the upload protocols in `uploads`) ends in `complete`:
injected faults and the per-user limits apply there, then the message is checked (recipients,
From) and recorded in the account's "sent" list.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from email.utils import formataddr, formatdate
from typing import Any

import structlog
from fastapi import APIRouter, Request
from starlette.responses import Response

from mailroute_sandbox import clock, errors, mime
from mailroute_sandbox.accounts import Account
from mailroute_sandbox.app import state_of
from mailroute_sandbox.limits import DAY, ApiFault, sending_limit_message
from mailroute_sandbox.scopes import can_send
from mailroute_sandbox.state import SandboxState, SentMessage

log = structlog.get_logger(__name__)
router = APIRouter()
SEND_PATH = "/gmail/v1/users/{user_id}/messages/send"
MAX_RECIPIENTS = 100
READ_SCOPES = frozenset(
    {
        "https://mail.google.com/",
        "https://www.googleapis.com/auth/gmail.compose",
        "https://www.googleapis.com/auth/gmail.modify",
        "https://www.googleapis.com/auth/gmail.readonly",
        "https://www.googleapis.com/auth/gmail.metadata",
    }
)
_RAW_REQUIRED = (
    "'raw' RFC822 payload message string or uploading message via /upload/* URL required"
)


@dataclass(frozen=True)
class Caller:
    account: Account
    scopes: tuple[str, ...]


def authenticate(
    state: SandboxState, request: Request, user_id: str, *, needs: frozenset[str] | None = None
) -> Caller | Response:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    token = token or request.query_params.get("access_token", "")
    if not token:
        state.counters.bump("auth_failures", None)
        return errors.missing_credentials()
    access = state.grants.access_token(token)
    account = state.accounts.get(access.account) if access else None
    if access is None or account is None or account.deleted or not access.is_live(clock.now()):
        state.counters.bump("auth_failures", access.account if access else None)
        return errors.invalid_credentials(expired=access is not None and not access.revoked)
    allowed = can_send(access.scopes) if needs is None else bool(needs & set(access.scopes))
    if not allowed:
        state.counters.bump("auth_failures", account.email)
        return errors.insufficient_scopes()
    if user_id != "me" and user_id.lower() != account.email.lower():
        return errors.delegation_denied(user_id)
    return Caller(account, access.scopes)


async def _fault_response(state: SandboxState, account: str, fault: ApiFault) -> Response:
    state.counters.injected()
    log.info("sandbox.gmail.fault_injected", kind=fault.kind, account=account)
    kind, said = fault.kind, fault.message
    if kind == "timeout":
        await asyncio.sleep(fault.hang_seconds)
        return errors.server_error(503)
    if kind == 401:
        state.counters.bump("auth_failures", account)
        return errors.invalid_credentials(expired=False, message=said)
    if kind == 429:
        state.counters.bump("rate_limited", account)
        retry_at = clock.now() + fault.retry_after_seconds
        return errors.rate_limited(said or sending_limit_message(retry_at))
    if kind == "403_userRateLimitExceeded":
        state.counters.bump("rate_limited", account)
        return errors.user_rate_limited_403(said)
    if kind == "403_rateLimitExceeded":
        state.counters.bump("rate_limited", account)
        return errors.project_rate_limited_403(said)
    if kind == "400_invalidArgument":
        state.counters.bump("send_errors", account)
        return errors.invalid_argument(said or "Invalid To header")
    if kind == "400_failedPrecondition":
        state.counters.bump("send_errors", account)
        return errors.failed_precondition(said)
    return errors.server_error(kind)


async def complete(
    state: SandboxState, account: Account, raw: bytes, thread_id: str | None, upload_type: str
) -> Response:
    key = account.email.lower()
    fault = state.faults.take("gmail", key)
    if fault is not None and not fault.deliver:
        return await _fault_response(state, key, fault)
    refusal, stamp = state.limiter.acquire(key, account.limits)
    if refusal is not None:
        state.counters.bump("rate_limited", key)
        log.info("sandbox.gmail.rate_limited", account=key)
        return errors.rate_limited(refusal.message)
    sent = False
    try:
        latency = state.settings.gmail_latency_ms
        if latency > 0:
            await asyncio.sleep(latency / 1000)
        outcome = _deliver(state, account, raw, thread_id, upload_type)
        if isinstance(outcome, Response):
            state.counters.bump("send_errors", key)
            return outcome
        sent = True
        if fault is not None:
            return await _fault_response(state, key, fault)
        return errors.json_response(
            {"id": outcome.gmail_id, "threadId": outcome.thread_id, "labelIds": ["SENT"]}
        )
    finally:
        state.limiter.release(key, stamp, sent=sent)


def _deliver(
    state: SandboxState, account: Account, raw: bytes, thread_id: str | None, upload_type: str
) -> SentMessage | Response:
    headers = mime.read_headers(raw)
    for name in ("To", "Cc", "Bcc"):
        if not mime.all_addresses_valid(headers, name):
            return errors.invalid_argument(f"Invalid {name} header")
    to_cc = mime.addresses(headers, "To") + mime.addresses(headers, "Cc")
    bcc = mime.addresses(headers, "Bcc")
    recipients = to_cc + bcc
    if not recipients:
        return errors.invalid_argument("Recipient address required")
    if len(recipients) > MAX_RECIPIENTS:
        return errors.rate_limited(sending_limit_message(clock.now() + DAY))
    replace: dict[str, str] = {}
    sender = mime.first_address(headers, "From")
    if sender is None or not account.may_send_as(sender[1]):
        display = sender[0] if sender and sender[0] else account.name
        replace["From"] = formataddr((display, account.email), charset="utf-8")
    if mime.header_text(headers, "Message-ID") is None:
        replace["Message-ID"] = f"<{secrets.token_hex(16)}@mail.gmail.com>"
    if mime.header_text(headers, "Date") is None:
        replace["Date"] = formatdate(usegmt=True)
    drop = frozenset({"bcc"}) if bcc else frozenset()
    if replace or drop:
        raw = mime.rewrite_headers(raw, replace, drop)
    gmail_id = state.mailbox.new_id()
    message = SentMessage(
        gmail_id=gmail_id,
        thread_id=thread_id or gmail_id,
        upload_type=upload_type,
        account=account.email.lower(),
        raw=raw,
        rcpt_tos=recipients,
        bcc=bcc,
        received_at=clock.rfc3339(clock.now()),
    )
    state.mailbox.record(message)
    state.counters.bump("sends", account.email)
    log.info("sandbox.gmail.sent", account=account.email, upload_type=upload_type)
    return message


def _decode_raw(value: str) -> bytes | None:
    text = value.strip().replace("\n", "").replace("\r", "")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def metadata_of(data: bytes) -> dict[str, Any] | Response:
    if not data.strip():
        return {}
    try:
        loaded = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return errors.bad_request("Invalid JSON payload received.")
    if not isinstance(loaded, dict):
        return errors.bad_request("Invalid JSON payload received.")
    return loaded


def thread_id_of(metadata: dict[str, Any]) -> str | None:
    value = metadata.get("threadId")
    return str(value) if value else None


@router.post(SEND_PATH)
async def send_json(user_id: str, request: Request) -> Response:
    state = state_of(request)
    caller = authenticate(state, request, user_id)
    if isinstance(caller, Response):
        return caller
    body = await request.body()
    if len(body) > state.settings.json_body_limit:
        return errors.too_large(state.settings.json_body_limit)
    metadata = metadata_of(body)
    if isinstance(metadata, Response):
        return metadata
    encoded = metadata.get("raw")
    if not isinstance(encoded, str) or not encoded:
        return errors.bad_request(_RAW_REQUIRED)
    raw = _decode_raw(encoded)
    if raw is None:
        return errors.api_error(
            400,
            "Invalid value at 'message.raw' (TYPE_BYTES), Base64 decoding failed.",
            "invalid",
        )
    return await complete(state, caller.account, raw, thread_id_of(metadata), "json")


@router.get("/gmail/v1/users/{user_id}/profile")
async def profile(user_id: str, request: Request) -> Response:
    state = state_of(request)
    caller = authenticate(state, request, user_id, needs=READ_SCOPES)
    if isinstance(caller, Response):
        return caller
    sent = len(state.mailbox.sent(caller.account.email))
    return errors.json_response(
        {
            "emailAddress": caller.account.email,
            "messagesTotal": sent,
            "threadsTotal": sent,
            "historyId": str(1000 + sent),
        }
    )
