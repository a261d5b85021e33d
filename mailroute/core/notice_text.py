"""The one email a company's admins (and whoever connected the mailbox) get when a mailbox
connection breaks, and the one when it is Active again, in plain words, as its provider
(`core.providers`) names things.

The break's notice names the mailbox's address, when and why it broke, what happens to emails
meanwhile, where an admin re-authorizes, the owner's one-time link (`core.reauthorization`),
and that no further notice will come for this break.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from mailroute.core.connection import BrokenReason, explain
from mailroute.core.providers import provider
from mailroute.core.reauthorization import LINK_TTL
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
    # The mailbox owner's one-time re-authorization link (`core.reauthorization`); None: none.
    reauthorization_url: str | None = None
    link_days: int = LINK_TTL.days


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
        *_owner_link(broken, mailbox.account),
        "This is the only notice for this break: no further email will come about it. If the "
        "account breaks again after being re-authorized, you will hear again.",
    ]
    subject = (
        f"Action needed: {mailbox.label} {broken.address} is not connected ({broken.company_name})"
    )
    # One paragraph a line: a 7bit part may not hold a line over 998 characters (RFC 5322).
    html = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    html = html.replace(escape(link), f'<a href="{escape(link)}">{escape(link)}</a>', 1)
    if broken.reauthorization_url:
        url = escape(broken.reauthorization_url)
        html = html.replace(url, f'<a href="{url}">{url}</a>', 1)
    return NoticeText(subject=subject, text="\n\n".join(paragraphs) + "\n", html=html)


def _owner_link(broken: BrokenConnection, account: str) -> list[str]:
    if not broken.reauthorization_url:
        return []
    return [
        f"Or whoever owns {broken.address} re-authorizes it without a mailroute login: open "
        f"{broken.reauthorization_url} and sign in as {broken.address}. The link works once, "
        f"for {broken.link_days} days, and only for that {account}."
    ]


@dataclass(frozen=True)
class ReconnectedConnection:
    """What the Active-again notice says: the mailbox that sends again since when."""

    company_name: str
    address: str
    reconnected_at: datetime
    provider: str = "gmail"


def active_again_message_id(
    connection_id: str, generation: int, domain: str, provider_name: str = "gmail"
) -> str:
    host = domain or "mailroute.localhost"
    return f"<{provider_name}-active-{connection_id}-{generation}@{host}>"


def active_again_notice(again: ReconnectedConnection, public_base_url: str) -> NoticeText:
    """The one email after a break's re-authorization: the mailbox is Active again."""
    link = public_base_url.rstrip("/") + SETTINGS_PAGE
    when = again.reconnected_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mailbox = provider(again.provider)
    paragraphs = [
        "Hello,",
        f"the {mailbox.label} account {again.address} that {again.company_name} sends its email"
        f" through is Active again since {when}: it was re-authorized.",
        f"New emails are sent from {again.address} again. Emails that failed while it was not"
        f" connected are not sent by themselves: an admin can retry them on {link}.",
        "This is the only notice for this re-authorization.",
    ]
    subject = f"Active again: {mailbox.label} {again.address} ({again.company_name})"
    html = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    html = html.replace(escape(link), f'<a href="{escape(link)}">{escape(link)}</a>', 1)
    return NoticeText(subject=subject, text="\n\n".join(paragraphs) + "\n", html=html)
