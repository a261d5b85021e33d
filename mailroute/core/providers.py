"""The mailbox providers a company can send through, registered in one place.

A provider's `name` is at once the `sender` a request may ask for, the route an email takes, the
queue its sends wait on, and the prefix of its error codes (`gmail_not_connected`). Routing, the
connection's life and the one notice per break are written against this registry, not against
a provider: adding a provider registers it here and brings its adapters.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    name: str
    label: str  # how the page and the messages name its mailboxes: "Gmail account …"
    account: str  # whose authorization it is: "the Google account"
    # Its daily cap counts recipients, not messages (Exchange Online: 10,000 recipients a day).
    counts_recipients: bool = False

    @property
    def not_connected_code(self) -> str:
        return f"{self.name}_not_connected"


GMAIL = Provider("gmail", "Gmail", "Google account")
MICROSOFT = Provider("microsoft", "Microsoft 365", "Microsoft account", counts_recipients=True)
PROVIDERS: dict[str, Provider] = {p.name: p for p in (GMAIL, MICROSOFT)}


def provider(name: str) -> Provider:
    """The registered provider `name`; KeyError for any other."""
    return PROVIDERS[name]
