"""Where an email goes: the company's Gmail, the default SMTP sender, or nowhere (it fails).

The rule of the design: From = Gmail needs an active connection; a broken connection fails the
email with `gmail_not_connected` rather than switching sender, unless the company chose to send
from the default address meanwhile. `auto` means Gmail whenever one is connected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mailroute.core.model import Route

ConnectionState = Literal["disconnected", "active", "not_connected"]
SETTINGS_PATH = "Settings > Company > Profile > Email"


@dataclass(frozen=True)
class GmailConnectionView:
    state: ConnectionState
    address: str | None
    broken_reason: str | None = None


@dataclass(frozen=True)
class RouteDecision:
    route: Route | None
    error_code: str | None = None
    error_message: str | None = None
    # The connection is broken (its notice was opened by the break itself): routing decides this
    # on a fresh read, never on a recently cached context.
    connection_broken: bool = False


def not_connected_message(address: str | None) -> str:
    account = address or "the company's Gmail account"
    return (
        f"Gmail account {account} is not connected: its authorization is no longer valid. "
        f"An admin must re-authorize it in {SETTINGS_PATH} (Re-authorize Sync)."
    )


def decide_route(
    sender: Literal["gmail", "default", "auto"],
    connection: GmailConnectionView | None,
    *,
    default_while_broken: bool = False,
) -> RouteDecision:
    state = connection.state if connection else "disconnected"
    if sender == "default":
        return RouteDecision(route="default")
    if state == "active":
        return RouteDecision(route="gmail")
    if state == "not_connected":
        if default_while_broken:
            return RouteDecision(route="default", connection_broken=True)
        return RouteDecision(
            route=None,
            error_code="gmail_not_connected",
            error_message=not_connected_message(connection.address if connection else None),
            connection_broken=True,
        )
    # Never connected, or revoked: the default sender takes over.
    return RouteDecision(route="default")
