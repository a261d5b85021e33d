"""The one email a company's admins get when a mailbox connection breaks, in plain words, as
its provider (`core.providers`) names things.

It names the mailbox's address, when and why it broke, what happens to emails meanwhile, where to
re-authorize, and that no further notice will come for this break.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from mailroute.core.connection import BrokenReason, explain
from mailroute.core.providers import provider
from mailroute.core.routing import SETTINGS_PATH

SETTINGS_PAGE = "/settings/email"
# What the notice adds after "Why:" for a reason that needs more words.
_WHAT_IT_MEANS: dict[str, str] = {
    BrokenReason.TOKEN_UNREADABLE: (
        "Nothing changed in the {account}: the authorization is still granted there, but "
        "mailroute cannot use it any more. Re-authorizing stores a new one that mailroute can "
        "read."
    ),
}


@dataclass(frozen=True)
class NoticeText:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class BrokenConnection:
    """What the notice says about the break."""

    company_name: str
    address: str
    reason: str | None
    broken_at: datetime
    default_while_broken: bool = False
    default_address: str = ""
    provider: str = "gmail"


def notice_message_id(
    connection_id: str, generation: int, domain: str, provider_name: str = "gmail"
) -> str:
    """The same Message-ID for every attempt at the same notice, so a retry is recognisable."""
    host = domain or "mailroute.localhost"
    return f"<{provider_name}-broken-{connection_id}-{generation}@{host}>"


def auth_broken_notice(broken: BrokenConnection, public_base_url: str) -> NoticeText:
    link = public_base_url.rstrip("/") + SETTINGS_PAGE
    when = broken.broken_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    why = explain(broken.reason, broken.provider)
    mailbox = provider(broken.provider)
    if broken.default_while_broken:
        meanwhile = (
            f"Until it is re-authorized, emails that would go from {broken.address} are sent "
            f"from the default address {broken.default_address} instead, as your company chose."
        )
    else:
        meanwhile = (
            f"Until it is re-authorized, every email sent from {broken.address} fails with the "
            f"error {mailbox.not_connected_code}. Nothing is sent from another address in its"
            " place."
        )
    paragraphs = [
        "Hello,",
        f"the {mailbox.label} account {broken.address} that {broken.company_name} sends its email"
        f" through is not connected any more since {when}.",
        f"Why: {why}.",
        *(
            [_WHAT_IT_MEANS[broken.reason].format(account=mailbox.account)]
            if broken.reason in _WHAT_IT_MEANS
            else []
        ),
        meanwhile,
        f"To fix it, an admin opens {link} ({SETTINGS_PATH}) and clicks Re-authorize Sync, "
        f"signing in with the same {mailbox.account}. The page then offers to retry the emails "
        "that failed meanwhile.",
        "This is the only notice for this break: no further email will come about it. If the "
        "account breaks again after being re-authorized, you will hear again.",
    ]
    subject = (
        f"Action needed: {mailbox.label} {broken.address} is not connected ({broken.company_name})"
    )
    # One paragraph a line: a 7bit part may not hold a line over 998 characters (RFC 5322).
    html = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    html = html.replace(escape(link), f'<a href="{escape(link)}">{escape(link)}</a>', 1)
    return NoticeText(subject=subject, text="\n\n".join(paragraphs) + "\n", html=html)
