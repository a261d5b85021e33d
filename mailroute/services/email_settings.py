"""What the Email settings show: the connection's true state, why it broke in words, and the
From addresses the company may send from right now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from mailroute.core.connection import ConnectionState, explain
from mailroute.core.mime import from_header
from mailroute.core.records import ConnectionRecord


@dataclass(frozen=True)
class FromOption:
    sender: str  # "gmail" or "default": what the send form and POST /v1/emails call it
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
class EmailSettings:
    state: ConnectionState
    address: str | None
    last_verified_at: datetime | None
    connected_at: datetime | None
    broken_at: datetime | None
    reason_code: str | None
    reason: str | None  # in words
    from_options: tuple[FromOption, ...]

    def as_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "state": self.state,
            "address": self.address,
            "last_verified_at": iso(self.last_verified_at),
            "connected_at": iso(self.connected_at),
            "broken_at": iso(self.broken_at),
            "reason_code": self.reason_code,
            "reason": self.reason,
            "from_options": [o.as_json() for o in self.from_options],
        }


def email_settings(
    record: ConnectionRecord | None, *, company_name: str, default_from: str
) -> EmailSettings:
    state: ConnectionState = record.state if record else "disconnected"
    address = record.address if record and state != "disconnected" else None
    reason = (
        explain(record.broken_reason, record.provider)
        if record and state == "not_connected"
        else None
    )
    options: list[FromOption] = []
    if address:
        options.append(
            FromOption(
                sender="gmail",
                address=address,
                label=f"{from_header(company_name, address)} (Gmail)",
                enabled=state == "active",
                reason=None if state == "active" else f"Gmail is not connected: {reason}",
            )
        )
    default_address = parseaddr(default_from)[1]
    options.append(
        FromOption(
            sender="default",
            address=default_address,
            label=f"{from_header(company_name, default_address)} (default sender)",
            enabled=True,
        )
    )
    return EmailSettings(
        state=state,
        address=address,
        last_verified_at=record.last_verified_at if record and address else None,
        connected_at=record.connected_at if record and address else None,
        broken_at=record.broken_at if record and state == "not_connected" else None,
        reason_code=record.broken_reason if record and state == "not_connected" else None,
        reason=reason,
        from_options=tuple(options),
    )
