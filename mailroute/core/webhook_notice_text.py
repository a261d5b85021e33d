"""The one email a company's admins get when one of its webhook endpoints is disabled."""

from __future__ import annotations

from datetime import UTC
from html import escape

from mailroute.core.notice_text import NoticeText
from mailroute.core.webhook_ports import DisabledNotice


def notice_message_id(endpoint_id: str, generation: int, domain: str) -> str:
    """The same Message-ID for every attempt at the same notice."""
    return f"<webhook-disabled-{endpoint_id}-{generation}@{domain or 'mailroute.localhost'}>"


def webhook_disabled_notice(notice: DisabledNotice, public_base_url: str) -> NoticeText:
    when = notice.disabled_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    api = public_base_url.rstrip("/") + f"/v1/webhooks/{notice.endpoint_id}"
    where = notice.url.split("?", 1)[0]  # a query string may hold the receiver's own token
    paragraphs = [
        "Hello,",
        f"mailroute stopped sending outcome webhooks of {notice.company_name} to "
        f"{where} on {when}.",
        f"Why: {notice.reason}.",
        "Events that happen while it is disabled are not sent to it. Deliveries that were "
        "still waiting for a retry are kept, and go out when it is enabled again.",
        f"To fix it, make the endpoint answer 2xx, then enable it again: POST {api}/enable "
        f"with an admin API key. GET {api}/deliveries lists each delivery with the answers "
        "mailroute got; POST …/deliveries/{id}/replay sends one again.",
        "This is the only notice for this: no further email will come about it unless the "
        "endpoint is disabled again after being enabled.",
    ]
    subject = f"Action needed: webhook endpoint disabled ({notice.company_name})"
    html = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return NoticeText(subject=subject, text="\n\n".join(paragraphs) + "\n", html=html)
