"""Where an email goes: one of the company's mailboxes, the default SMTP sender, or nowhere (it
fails).

The rule of the design: From = a mailbox needs its connection active; a broken connection fails
the email with `<provider>_not_connected` rather than switching sender, unless the company chose
to send from the default address meanwhile. A request names a provider (`gmail`, `microsoft`),
`default`, or `auto`: the company's primary mailbox when one is chosen, else the first connected
in the registry's order (`core.providers`). Nothing here names a provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from mailroute.core.connection import ConnectionState
from mailroute.core.model import Route
from mailroute.core.providers import PROVIDERS, provider

SETTINGS_PATH = "Settings > Company > Profile > Email"


@dataclass(frozen=True)
class MailboxView:
    """A company's connection to one provider's mailbox, as routing sees it."""

    state: ConnectionState
    address: str | None
    broken_reason: str | None = None
    provider: str = "gmail"


@dataclass(frozen=True)
class RouteDecision:
    route: Route | None
    error_code: str | None = None
    error_message: str | None = None
    # The connection is broken (its notice was opened by the break itself): routing decides this
    # on a fresh read, never on a recently cached context.
    connection_broken: bool = False


def not_connected_message(address: str | None, provider_name: str = "gmail") -> str:
    label = provider(provider_name).label
    account = address or f"the company's {label} account"
    return (
        f"{label} account {account} is not connected: its authorization is no longer valid. "
        f"An admin must re-authorize it in {SETTINGS_PATH} (Re-authorize Sync)."
    )


def _chosen(
    sender: str, connections: Sequence[MailboxView], primary: str | None
) -> MailboxView | None:
    """The connection `sender` asks for: the named provider's, or for `auto` the primary's
    (when it is connected at all), else the first connected in the registry's order."""
    by_provider = {c.provider: c for c in connections if c.state != "disconnected"}
    if sender != "auto":
        return by_provider.get(sender)
    if primary in by_provider:
        return by_provider[primary]
    return next((by_provider[name] for name in PROVIDERS if name in by_provider), None)


def decide_route(
    sender: str,
    connections: Sequence[MailboxView],
    *,
    primary: str | None = None,
    default_while_broken: bool = False,
) -> RouteDecision:
    if sender == "default":
        return RouteDecision(route="default")
    connection = _chosen(sender, connections, primary)
    if connection is None:  # never connected, or revoked: the default sender takes over
        return RouteDecision(route="default")
    if connection.state == "active":
        return RouteDecision(route=cast(Route, provider(connection.provider).name))
    if default_while_broken:
        return RouteDecision(route="default", connection_broken=True)
    return RouteDecision(
        route=None,
        error_code=provider(connection.provider).not_connected_code,
        error_message=not_connected_message(connection.address, connection.provider),
        connection_broken=True,
    )
