"""What the Email settings show: each mailbox's true state (one per provider), why it broke in
words, and the From addresses the company may send from right now.

An active mailbox whose refresh token is known to end shows when (`expires_at`), and whether
that is soon (`expires_soon`, `core.expiry`).

The top-level fields describe the Gmail connection, as they did before a second provider
existed (a documented alias of `mailboxes[provider=gmail]`); `mailboxes` lists every provider's.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

from mailroute.core.connection import ConnectionState, explain
from mailroute.core.expiry import NO_KNOWN_END, expiry
from mailroute.core.mime import from_header
from mailroute.core.providers import GMAIL, PROVIDERS, provider
from mailroute.core.records import ConnectionRecord


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class FromOption:
    sender: str  # a provider's name or "default": what the send form and POST /v1/emails call it
    address: str
    label: str
    enabled: bool
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "sender": self.sender,
            "address": self.address,
            "label": self.label,
            "enabled": self.enabled,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Mailbox:
    """One provider's connection as the page shows it; `available` is False when this server
    is not set up to sign in with the provider."""

    provider: str
    label: str
    state: ConnectionState
    address: str | None
    last_verified_at: datetime | None
    connected_at: datetime | None
    broken_at: datetime | None
    reason_code: str | None
    reason: str | None  # in words
    available: bool = True
    expires_at: datetime | None = None  # when its refresh token is known to end
    expires_soon: bool = False  # that end is within `core.expiry`'s window

    def as_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "label": self.label,
            "state": self.state,
            "address": self.address,
            "reason_code": self.reason_code,
            "reason": self.reason,
            "connected_at": _iso(self.connected_at),
            "last_verified_at": _iso(self.last_verified_at),
            "broken_at": _iso(self.broken_at),
            "available": self.available,
            "expires_at": _iso(self.expires_at),
            "expires_soon": self.expires_soon,
        }


def mailbox(
    name: str,
    record: ConnectionRecord | None,
    *,
    available: bool = True,
    now: datetime | None = None,
) -> Mailbox:
    state: ConnectionState = record.state if record else "disconnected"
    present = record is not None and state != "disconnected"
    broken = record is not None and state == "not_connected"
    ends = (
        expiry(record.refresh_expires_at, now=now or datetime.now(UTC), active=state == "active")
        if record
        else NO_KNOWN_END
    )
    return Mailbox(
        provider=name,
        label=provider(name).label,
        state=state,
        address=record.address if record and present else None,
        last_verified_at=record.last_verified_at if record and present else None,
        connected_at=record.connected_at if record and present else None,
        broken_at=record.broken_at if record and broken else None,
        reason_code=record.broken_reason if record and broken else None,
        reason=explain(record.broken_reason, name) if record and broken else None,
        available=available,
        expires_at=ends.expires_at,
        expires_soon=ends.soon,
    )


@dataclass(frozen=True)
class EmailSettings:
    state: ConnectionState
    address: str | None
    last_verified_at: datetime | None
    connected_at: datetime | None
    broken_at: datetime | None
    reason_code: str | None
    reason: str | None  # in words
    from_options: tuple[FromOption, ...]
    mailboxes: tuple[Mailbox, ...] = ()

    def of(self, name: str) -> Mailbox:
        """The mailbox of provider `name`."""
        return next(m for m in self.mailboxes if m.provider == name)

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "address": self.address,
            "last_verified_at": _iso(self.last_verified_at),
            "connected_at": _iso(self.connected_at),
            "broken_at": _iso(self.broken_at),
            "reason_code": self.reason_code,
            "reason": self.reason,
            "from_options": [o.as_json() for o in self.from_options],
            "mailboxes": [m.as_json() for m in self.mailboxes],
        }


def _from_option(box: Mailbox, company_name: str) -> FromOption:
    assert box.address is not None
    active = box.state == "active"
    return FromOption(
        sender=box.provider,
        address=box.address,
        label=f"{from_header(company_name, box.address)} ({box.label})",
        enabled=active,
        reason=None if active else f"{box.label} is not connected: {box.reason}",
    )


def email_settings(
    record: ConnectionRecord | None,
    *,
    company_name: str,
    default_from: str,
    others: Mapping[str, ConnectionRecord | None] | None = None,
    unavailable: Collection[str] = (),
    now: datetime | None = None,
) -> EmailSettings:
    """The settings of a company whose Gmail connection is `record` and whose other
    providers' are `others` (by provider name); `unavailable` names the providers this server
    cannot sign in with; `now` is when "expires soon" is judged (the current time)."""
    records = {GMAIL.name: record, **(others or {})}
    at = now or datetime.now(UTC)
    boxes = tuple(
        mailbox(name, records.get(name), available=name not in unavailable, now=at)
        for name in PROVIDERS
    )
    options = [_from_option(box, company_name) for box in boxes if box.address]
    default_address = parseaddr(default_from)[1]
    options.append(
        FromOption(
            sender="default",
            address=default_address,
            label=f"{from_header(company_name, default_address)} (default sender)",
            enabled=True,
        )
    )
    gmail = next(box for box in boxes if box.provider == GMAIL.name)
    return EmailSettings(
        state=gmail.state,
        address=gmail.address,
        last_verified_at=gmail.last_verified_at,
        connected_at=gmail.connected_at,
        broken_at=gmail.broken_at,
        reason_code=gmail.reason_code,
        reason=gmail.reason,
        from_options=tuple(options),
        mailboxes=boxes,
    )
