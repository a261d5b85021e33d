"""What a Cross-Account Protection event does: the events that end a grant break every active
Gmail connection of that Google account, once, through the one break path with the reason in
words; the others are recorded; a replayed jti or a redelivered task does nothing more."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mailroute.core.connection import BrokenReason, explain
from mailroute.core.records import Broken, ConnectionRecord
from mailroute.core.risc import (
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    CREDENTIAL_CHANGE_REQUIRED,
    SESSIONS_REVOKED,
    TOKEN_REVOKED,
    TOKENS_REVOKED,
    VERIFICATION,
    Outcome,
    SecurityEvent,
    StoredEvent,
)
from mailroute.services.security_events import (
    Received,
    SecurityEventHandling,
    SecurityEventReceiver,
    handle,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def connection(cid: str, company: str, sub: str, **changes: Any) -> ConnectionRecord:
    base = ConnectionRecord(
        id=cid,
        company_id=company,
        state="active",
        address=f"{cid}@example.test",
        google_subject=sub,
        generation=1,
        scopes=(),
        connected_by=None,
        connected_at=NOW - timedelta(days=1),
        last_verified_at=None,
        broken_reason=None,
        broken_at=None,
        access_token_expires_at=None,
        daily_cap=None,
        has_refresh_token=True,
    )
    return dataclasses.replace(base, **changes)


class FakeWorld:
    """The store of received tokens, the connections by sub, and the one break path."""

    def __init__(self, *connections: ConnectionRecord) -> None:
        self.connections = {c.id: c for c in connections}
        self.stored: dict[str, StoredEvent] = {}
        self.jtis: set[str] = set()
        self.breaks: list[tuple[str, str]] = []
        self.published: list[int] = []
        self._lock = threading.Lock()

    def store_once(self, event: SecurityEvent, correlation_id: str) -> tuple[str, list[int]] | None:
        with self._lock:
            if event.jti in self.jtis:
                return None
            self.jtis.add(event.jti)
            event_id = f"e{len(self.stored) + 1}"
            self.stored[event_id] = StoredEvent(
                event_id, event.jti, event.issued_at, event.events, None
            )
            return event_id, [len(self.stored)]

    def get(self, event_id: str) -> StoredEvent | None:
        return self.stored.get(event_id)

    def finish(self, event_id: str, outcome: Outcome, connections_broken: int) -> None:
        found = self.stored[event_id]
        if found.outcome is None:
            self.stored[event_id] = dataclasses.replace(found, outcome=outcome)

    def for_subject(self, subject: str) -> list[ConnectionRecord]:
        return [c for c in self.connections.values() if c.google_subject == subject]

    def for_refresh_token(self, alg: str, identifier: str) -> list[ConnectionRecord]:
        return [c for c in self.connections.values() if alg == "prefix" and c.id == identifier]

    def break_connection(
        self, connection_id: str, generation: int, reason: str, correlation_id: str
    ) -> Broken | None:
        with self._lock:
            found = self.connections[connection_id]
            if found.state != "active" or found.generation != generation:
                return None
            self.connections[connection_id] = dataclasses.replace(
                found, state="not_connected", broken_reason=reason
            )
            self.breaks.append((connection_id, reason))
            return Broken(event=None, record=found, outbox_ids=[])  # type: ignore[arg-type]

    def publish_stored(self, outbox_ids: list[int]) -> None:
        self.published.extend(outbox_ids)

    def deps(self) -> SecurityEventHandling:
        return SecurityEventHandling(store=self, connections=self, breaks=self, outbox=self)


def event(event_type: str, sub: str = "sub-1", jti: str = "jti-1", **body: Any) -> SecurityEvent:
    payload = {"subject": {"subject_type": "iss-sub", "sub": sub}, **body}
    return SecurityEvent(jti=jti, issued_at=NOW, events={event_type: payload})


def stored(world: FakeWorld, found: SecurityEvent) -> str:
    result = world.store_once(found, "c")
    assert result is not None
    return result[0]


@pytest.mark.parametrize(
    ("event_type", "body", "reason"),
    [
        (TOKENS_REVOKED, {}, BrokenReason.REVOKED),
        (SESSIONS_REVOKED, {}, BrokenReason.SESSIONS_REVOKED),
        (ACCOUNT_DISABLED, {}, BrokenReason.ACCOUNT_DISABLED),
        (ACCOUNT_DISABLED, {"reason": "hijacking"}, BrokenReason.ACCOUNT_HIJACKED),
        (CREDENTIAL_CHANGE_REQUIRED, {}, BrokenReason.CREDENTIAL_CHANGE_REQUIRED),
    ],
)
def test_an_event_that_ends_the_grant_breaks_the_connection_with_its_reason_in_words(
    event_type: str, body: dict[str, Any], reason: BrokenReason
) -> None:
    world = FakeWorld(connection("c1", "acme", "sub-1"), connection("c2", "other", "sub-2"))

    outcome = handle(stored(world, event(event_type, **body)), world.deps(), "c")

    assert outcome == "broken"
    assert world.breaks == [("c1", reason.value)]
    assert "_" not in explain(reason.value)
    assert "Google" in explain(reason.value)


def test_every_company_that_connected_the_account_is_broken() -> None:
    world = FakeWorld(connection("c1", "acme", "sub-1"), connection("c2", "globex", "sub-1"))

    handle(stored(world, event(TOKENS_REVOKED)), world.deps(), "c")

    assert sorted(world.breaks) == [("c1", "revoked"), ("c2", "revoked")]


@pytest.mark.parametrize("event_type", [ACCOUNT_ENABLED, VERIFICATION])
def test_account_enabled_and_verification_are_recorded_only(event_type: str) -> None:
    world = FakeWorld(connection("c1", "acme", "sub-1"))
    event_id = stored(world, event(event_type))

    assert handle(event_id, world.deps(), "c") == "recorded"
    assert world.breaks == []
    assert world.stored[event_id].outcome == "recorded"


def test_a_token_revoked_event_breaks_the_connection_holding_that_refresh_token() -> None:
    world = FakeWorld(connection("c1", "acme", "sub-1"), connection("c2", "acme2", "sub-2"))
    subject = {
        "subject_type": "oauth_token",
        "token_type": "refresh_token",
        "token_identifier_alg": "prefix",
        "token": "c2",
    }
    found = SecurityEvent("jti-t", NOW, {TOKEN_REVOKED: {"subject": subject}})

    handle(stored(world, found), world.deps(), "c")

    assert world.breaks == [("c2", "revoked")]


def test_an_unknown_subject_changes_nothing() -> None:
    world = FakeWorld(connection("c1", "acme", "sub-1"))

    assert handle(stored(world, event(TOKENS_REVOKED, sub="nobody")), world.deps(), "c") == (
        "no_connection"
    )
    assert world.breaks == []


def test_a_connection_made_in_the_second_of_the_event_is_broken() -> None:
    world = FakeWorld(connection("c1", "acme", "sub-1", connected_at=NOW + timedelta(seconds=0.6)))

    assert handle(stored(world, event(TOKENS_REVOKED)), world.deps(), "c") == "broken"


def test_a_connection_made_well_after_the_event_was_issued_is_left_alone() -> None:
    world = FakeWorld(connection("c1", "acme", "sub-1", connected_at=NOW + timedelta(minutes=5)))

    assert handle(stored(world, event(TOKENS_REVOKED)), world.deps(), "c") == "already_broken"
    assert world.breaks == []


def test_a_redelivered_task_does_nothing_more() -> None:
    world = FakeWorld(connection("c1", "acme", "sub-1"))
    event_id = stored(world, event(TOKENS_REVOKED))

    assert handle(event_id, world.deps(), "c") == "broken"
    assert handle(event_id, world.deps(), "c") is None
    assert world.breaks == [("c1", "revoked")]


def test_a_replayed_jti_is_answered_but_neither_stored_nor_enqueued_again() -> None:
    world = FakeWorld(connection("c1", "acme", "sub-1"))

    class Verifier:
        def verify(self, token: str) -> SecurityEvent:
            return event(TOKENS_REVOKED, jti=token)

    receiver = SecurityEventReceiver(Verifier(), world, world)
    first = receiver.receive("jti-9", "c")
    again = receiver.receive("jti-9", "c")

    assert first == Received(first.event_id, "jti-9", "accepted")
    assert again == Received(None, "jti-9", "replayed")
    assert len(world.stored) == 1
    assert world.published == [1]
