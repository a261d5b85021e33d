"""Google's Cross-Account Protection, as use cases: receive a Security Event Token (verify, store
once per `jti`, enqueue its id) and process one stored token (break every Gmail connection it
ends through the one break path, record the rest).

Receiving answers fast: no connection is read or changed there. Processing is idempotent: a stored
token is finished once, and a break is conditional on the connection's generation, so a
redelivered task neither breaks twice nor notifies twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import structlog

from mailroute.core.ports import ConnectionBreaks, Outbox
from mailroute.core.records import ConnectionRecord
from mailroute.core.risc import (
    TOKEN_REVOKED,
    Outcome,
    SecurityEvent,
    SecurityEventStore,
    SubjectConnections,
    breaks,
    first_break_reason,
)
from mailroute.services import breaks as break_path

log = structlog.get_logger(__name__)


class TokenVerifier(Protocol):
    def verify(self, token: str) -> SecurityEvent:
        """The token's event; raises `core.risc.SecurityEventRefusedError`."""
        ...


@dataclass(frozen=True)
class Received:
    event_id: str | None  # None: a replayed jti, nothing done
    jti: str
    status: Literal["accepted", "replayed"]


@dataclass(frozen=True)
class SecurityEventReceiver:
    verifier: TokenVerifier
    store: SecurityEventStore
    outbox: Outbox

    def receive(self, token: str, correlation_id: str) -> Received:
        """Verify and store the token with its processing task; a seen jti does nothing."""
        event = self.verifier.verify(token)
        stored = self.store.store_once(event, correlation_id)
        if stored is None:
            log.info("risc.replayed", jti=event.jti[:64])
            return Received(None, event.jti, "replayed")
        event_id, outbox_ids = stored
        self.outbox.publish_stored(outbox_ids)
        log.info("risc.received", event_id=event_id, event_types=list(event.event_types))
        return Received(event_id, event.jti, "accepted")


@dataclass(frozen=True)
class SecurityEventHandling:
    store: SecurityEventStore
    connections: SubjectConnections
    breaks: ConnectionBreaks
    outbox: Outbox


def _named(event: SecurityEvent, connections: SubjectConnections) -> list[ConnectionRecord]:
    """The connections the event names: by `sub`, or by the one refresh token it identifies."""
    if event.subject is not None:
        return connections.for_subject(event.subject)
    body: Mapping[str, Any] = event.events.get(TOKEN_REVOKED) or {}
    subject = body.get("subject")
    if isinstance(subject, Mapping) and subject.get("token_type") == "refresh_token":
        alg, token = subject.get("token_identifier_alg"), subject.get("token")
        if isinstance(alg, str) and isinstance(token, str):
            return connections.for_refresh_token(alg, token)
    return []


def handle(event_id: str, deps: SecurityEventHandling, correlation_id: str) -> Outcome | None:
    """Process one stored token once; its outcome, or None when there is nothing to do."""
    stored = deps.store.get(event_id)
    if stored is None or stored.outcome is not None:
        return None
    event = stored.as_event()
    reason = first_break_reason(event)
    if reason is None:
        deps.store.finish(event_id, "recorded", 0)
        log.info("risc.recorded", event_id=event_id, event_types=list(event.event_types))
        return "recorded"
    named = [c for c in _named(event, deps.connections) if c.provider == "gmail"]
    broken = 0
    for connection in named:
        if not breaks(connection, event):
            continue
        won = break_path.break_connection(
            deps.breaks,
            deps.outbox,
            connection_id=connection.id,
            generation=connection.generation,
            reason=reason.value,
            correlation_id=correlation_id,
        )
        broken += won is not None
    outcome: Outcome = "broken" if broken else ("already_broken" if named else "no_connection")
    deps.store.finish(event_id, outcome, broken)
    log.info("risc.processed", event_id=event_id, outcome=outcome, connections_broken=broken)
    return outcome
