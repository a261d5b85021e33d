"""Build the RFC 5322 message for an email: text and html as alternatives, attachments, a stable
Message-ID derived from the email id (the same across retries, so a duplicate can be recognised).
"""

from __future__ import annotations

import uuid
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate, parseaddr

from mailroute.core.model import OutgoingEmail

_NAMESPACE = uuid.UUID("5b0f3e0e-7f1c-4a55-9a3c-2f1a4f6e8d11")


def email_id_for(company_id: str, event_id: str) -> str:
    """The email's id, derived from (company, event) so intake can answer it at once."""
    return str(uuid.uuid5(_NAMESPACE, f"{company_id}/{event_id}"))


def message_id_for(email_id: str, from_address: str) -> str:
    """A stable Message-ID: the same for every attempt at the same email."""
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "mailroute.localhost"
    return f"<{email_id}@{domain}>"


def from_header(display_name: str, address: str) -> str:
    return formataddr((display_name, parseaddr(address)[1]))


def build_message(email: OutgoingEmail, *, from_: str, include_bcc: bool = False) -> EmailMessage:
    """The message as it goes on the wire. Bcc is left out unless the transport needs it
    (the Gmail API reads Bcc from the message and strips it; SMTP gets it as envelope only)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = from_
    if email.to:
        msg["To"] = ", ".join(email.to)
    if email.cc:
        msg["Cc"] = ", ".join(email.cc)
    if include_bcc and email.bcc:
        msg["Bcc"] = ", ".join(email.bcc)
    if email.reply_to:
        msg["Reply-To"] = email.reply_to
    msg["Subject"] = email.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = email.message_id
    if email.text:
        msg.set_content(email.text)
        if email.html:
            msg.add_alternative(email.html, subtype="html")
    elif email.html:
        msg.set_content(email.html, subtype="html")
    for att in email.attachments:
        maintype, _, subtype = att.content_type.partition("/")
        msg.add_attachment(att.content, maintype=maintype, subtype=subtype, filename=att.filename)
    return msg


def envelope_address(address: str) -> str:
    """The bare address of a header value, for the SMTP envelope."""
    return Address(addr_spec=parseaddr(address)[1]).addr_spec
