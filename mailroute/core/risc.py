"""Google's Cross-Account Protection (RISC): what a Security Event Token says, the rules a token
must pass, and what each event does to a Gmail connection. No I/O: the receiver's adapters check
the signature, this module decides.

    token -> refused (RFC 8935 `err` + description)   nothing stored
          -> replayed jti                              202, nothing done
          -> stored once per jti -> queue -> actions   break / record

A refusal is one `SecurityEventRefusedError` carrying the SET push error code the receiver answers
with (`invalid_request`, `invalid_key`, `invalid_issuer`, `invalid_audience`,
`authentication_failed`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from mailroute.core.connection import BrokenReason
from mailroute.core.records import ConnectionRecord

RISC = "https://schemas.openid.net/secevent/risc/event-type/"
OAUTH = "https://schemas.openid.net/secevent/oauth/event-type/"
TOKENS_REVOKED = OAUTH + "tokens-revoked"
TOKEN_REVOKED = OAUTH + "token-revoked"
SESSIONS_REVOKED = RISC + "sessions-revoked"
ACCOUNT_DISABLED = RISC + "account-disabled"
ACCOUNT_ENABLED = RISC + "account-enabled"
CREDENTIAL_CHANGE_REQUIRED = RISC + "account-credential-change-required"
VERIFICATION = RISC + "verification"
ALL_EVENT_TYPES = (
    TOKENS_REVOKED,
    TOKEN_REVOKED,
    SESSIONS_REVOKED,
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    CREDENTIAL_CHANGE_REQUIRED,
    VERIFICATION,
)
PUSH_DELIVERY = "https://schemas.openid.net/secevent/risc/delivery-method/push"

RefusalCode = Literal[
    "invalid_request",
    "invalid_key",
    "invalid_issuer",
    "invalid_audience",
    "authentication_failed",
]
Outcome = Literal["broken", "already_broken", "no_connection", "recorded", "ignored"]


class SecurityEventRefusedError(ValueError):
    """The token is refused; `err` is the SET push error code (RFC 8935 §2.3)."""

    def __init__(self, err: RefusalCode, description: str) -> None:
        super().__init__(f"{err}: {description}")
        self.err: RefusalCode = err
        self.description = description


class KeysUnavailableError(RuntimeError):
    """The issuer's configuration or keys cannot be read now (and none are cached): not the
    token's fault, so it is answered 503 and the transmitter delivers it again."""


@dataclass(frozen=True)
class Freshness:
    """How old a token's `iat` may be, and how far in the future (clock skew)."""

    max_age: timedelta
    max_skew: timedelta = timedelta(minutes=5)

    def check(self, iat: Any, now: datetime) -> datetime:
        if isinstance(iat, bool) or not isinstance(iat, int | float):
            raise SecurityEventRefusedError("invalid_request", "iat is missing or not a number")
        issued = datetime.fromtimestamp(iat, tz=now.tzinfo)
        if issued < now - self.max_age:
            raise SecurityEventRefusedError("invalid_request", "the token is too old (iat)")
        if issued > now + self.max_skew:
            raise SecurityEventRefusedError("invalid_request", "the token is from the future (iat)")
        return issued


@dataclass(frozen=True)
class SecurityEvent:
    """A verified token's claims that matter: one jti, one or more events about a subject."""

    jti: str
    issued_at: datetime
    events: Mapping[str, Mapping[str, Any]]

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(sorted(self.events))

    @property
    def subject(self) -> str | None:
        """The Google account's `sub` the events name (iss-sub subjects), if any."""
        for body in self.events.values():
            subject = body.get("subject") if isinstance(body, Mapping) else None
            if isinstance(subject, Mapping) and isinstance(subject.get("sub"), str):
                return str(subject["sub"])
        return None


def read_claims(claims: Mapping[str, Any], freshness: Freshness, now: datetime) -> SecurityEvent:
    """The verified claims as a `SecurityEvent` (signature, `iss` and `aud` already checked)."""
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise SecurityEventRefusedError("invalid_request", "jti is missing")
    events = claims.get("events")
    if not isinstance(events, Mapping) or not events:
        raise SecurityEventRefusedError("invalid_request", "events is missing")
    if not all(isinstance(body, Mapping) for body in events.values()):
        raise SecurityEventRefusedError("invalid_request", "each event must be an object")
    issued = freshness.check(claims.get("iat"), now)
    return SecurityEvent(jti=jti, issued_at=issued, events=dict(events))


def break_reason(event_type: str, body: Mapping[str, Any]) -> BrokenReason | None:
    """Why this event ends a Gmail grant, or None when it is only recorded."""
    if event_type in (TOKENS_REVOKED, TOKEN_REVOKED):
        return BrokenReason.REVOKED
    if event_type == SESSIONS_REVOKED:
        return BrokenReason.SESSIONS_REVOKED
    if event_type == ACCOUNT_DISABLED:
        if body.get("reason") == "hijacking":
            return BrokenReason.ACCOUNT_HIJACKED
        return BrokenReason.ACCOUNT_DISABLED
    if event_type == CREDENTIAL_CHANGE_REQUIRED:
        return BrokenReason.CREDENTIAL_CHANGE_REQUIRED
    return None


def first_break_reason(event: SecurityEvent) -> BrokenReason | None:
    """The reason of the first breaking event of the token (in a fixed order), if any."""
    for event_type in ALL_EVENT_TYPES:
        body = event.events.get(event_type)
        if body is not None and (reason := break_reason(event_type, body)) is not None:
            return reason
    return None


# `iat` is whole seconds and Google's clock is not ours: a grant made this close after the event's
# `iat` may still be the one it is about.
ISSUED_AT_SLACK = timedelta(seconds=30)


def breaks(connection: ConnectionRecord, event: SecurityEvent) -> bool:
    """An event breaks an active connection whose grant it may be about: one made before the
    event was issued (a late delivery never ends a grant the user gave again well after it)."""
    if connection.state != "active":
        return False
    made = connection.connected_at
    return made is None or made <= event.issued_at + ISSUED_AT_SLACK


@dataclass(frozen=True)
class StoredEvent:
    """A received token as stored: what the worker processes."""

    id: str
    jti: str
    issued_at: datetime
    events: Mapping[str, Mapping[str, Any]]
    outcome: str | None

    def as_event(self) -> SecurityEvent:
        return SecurityEvent(jti=self.jti, issued_at=self.issued_at, events=self.events)


class SecurityEventStore(Protocol):
    """Received tokens, once per jti, with the task that processes each in one transaction."""

    def store_once(self, event: SecurityEvent, correlation_id: str) -> tuple[str, list[int]] | None:
        """Store the event and its processing task; (id, outbox ids), or None for a seen jti."""
        ...

    def get(self, event_id: str) -> StoredEvent | None: ...

    def finish(self, event_id: str, outcome: Outcome, connections_broken: int) -> None: ...


class SubjectConnections(Protocol):
    """The Gmail connections a security event names, whichever companies hold them."""

    def for_subject(self, subject: str) -> list[ConnectionRecord]: ...

    def for_refresh_token(self, alg: str, identifier: str) -> list[ConnectionRecord]: ...
