"""The one advance notice that a mailbox connection's authorization is about to end, in plain
words, as its provider (`core.providers`) names things.

It says which mailbox, what will happen and when (emails sent from it start failing), why
(the provider limits how long the authorization lasts), and what to do before then: an admin
re-authorizes on the settings page, which starts a new authorization with a new end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from mailroute.core.providers import provider
from mailroute.core.routing import SETTINGS_PATH

SETTINGS_PAGE = "/settings/email"


@dataclass(frozen=True)
class ExpiryNoticeText:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class EndingConnection:
    """What the advance notice says about the connection."""

    company_name: str
    address: str
    expires_at: datetime
    provider: str = "gmail"


def expiry_notice_message_id(
    connection_id: str, generation: int, domain: str, provider_name: str = "gmail"
) -> str:
    """The same Message-ID for every attempt at the same notice, so a retry is recognisable."""
    host = domain or "mailroute.localhost"
    return f"<{provider_name}-expires-{connection_id}-{generation}@{host}>"


def expiry_notice(ending: EndingConnection, public_base_url: str) -> ExpiryNoticeText:
    link = public_base_url.rstrip("/") + SETTINGS_PAGE
    when = ending.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mailbox = provider(ending.provider)
    paragraphs = [
        "Hello,",
        f"the authorization that lets {ending.company_name} send its email through the"
        f" {mailbox.label} account {ending.address} ends on {when}.",
        f"Why: the {mailbox.account}'s authorization was granted for a limited time (a Google"
        " project in testing mode, for example, grants it for 7 days).",
        f"What will happen: from {when}, {mailbox.label} refuses it, the connection shows Not"
        f" connected, and every email sent from {ending.address} fails with the error"
        f" {mailbox.not_connected_code} until someone re-authorizes.",
        f"What to do before {when}: an admin opens {link} ({SETTINGS_PATH}) and clicks"
        f" Re-authorize, signing in with the same {mailbox.account}. Nothing else changes;"
        " emails keep going from the same address.",
        "This is the only advance notice for this authorization. If it ends all the same, the"
        " notice that the connection is not connected follows.",
    ]
    subject = (
        f"Action needed before {when}: {mailbox.label} {ending.address} stops sending"
        f" ({ending.company_name})"
    )
    # One paragraph a line: a 7bit part may not hold a line over 998 characters (RFC 5322).
    html = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    html = html.replace(escape(link), f'<a href="{escape(link)}">{escape(link)}</a>', 1)
    return ExpiryNoticeText(subject=subject, text="\n\n".join(paragraphs) + "\n", html=html)
