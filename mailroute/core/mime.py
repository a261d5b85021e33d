"""Build the RFC 5322 message for an email: text and html as alternatives, attachments, a stable
Message-ID derived from the email id (the same across retries, so a duplicate can be recognised).
"""

from __future__ import annotations

import functools
import uuid
from email import encoders
from email.charset import QP, Charset
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, getaddresses, parseaddr

from mailroute.core.model import OutgoingEmail

_WIRE = compat32.clone(linesep="\r\n")
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP  # readable in a raw message, unlike base64
_NAMESPACE = uuid.UUID("5b0f3e0e-7f1c-4a55-9a3c-2f1a4f6e8d11")


def email_id_for(company_id: str, event_id: str) -> str:
    """The email's id, derived from (company, event) so intake can answer it at once."""
    return str(uuid.uuid5(_NAMESPACE, f"{company_id}/{event_id}"))


def message_id_for(email_id: str, from_address: str) -> str:
    """A stable Message-ID: the same for every attempt at the same email."""
    domain = bare_address(from_address).rpartition("@")[2] or "mailroute.localhost"
    return f"<{email_id}@{domain}>"


def from_header(display_name: str, address: str) -> str:
    return formataddr((display_name, bare_address(address)))


@functools.lru_cache(maxsize=1024)
def bare_address(value: str) -> str:
    """The addr-spec of a header address ('Name <a@b.example>' -> 'a@b.example'), cached: the
    same few (the default sender, a company's Gmail) come up on every email."""
    return parseaddr(value)[1]


def _header_address(value: str) -> str:
    """An address for a header, its display name RFC 2047-encoded when it is not ASCII."""
    if value.isascii():
        return value  # intake already wrote it in canonical form
    return ", ".join(
        formataddr((name, addr), charset="utf-8") for name, addr in getaddresses([value])
    )


def _header_text(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


def _text(body: str, subtype: str) -> Message:
    if body.isascii():
        return MIMEText(body, subtype, "us-ascii")
    part = MIMENonMultipart("text", subtype)
    part.set_payload(body, _UTF8)
    return part


def build_message(email: OutgoingEmail, *, from_: str, include_bcc: bool = False) -> Message:
    """The message as it goes on the wire (`.as_bytes()`). Bcc is left out unless the transport
    needs it (the Gmail API reads Bcc from the message and strips it; SMTP gets it in the
    envelope only).

    Built with the classic `email.mime` classes: the modern `EmailMessage` API re-parses every
    header it is given, which made building a message the largest cost of sending one."""
    body: Message
    if email.text and email.html:
        body = MIMEMultipart(
            "alternative", _subparts=[_text(email.text, "plain"), _text(email.html, "html")]
        )
    elif email.text:
        body = _text(email.text, "plain")
    else:
        body = _text(email.html or "", "html")
    msg: Message = body
    if email.attachments:
        msg = MIMEMultipart("mixed", _subparts=[body])
        for att in email.attachments:
            maintype, _, subtype = att.content_type.partition("/")
            part = MIMEBase(maintype, subtype)
            part.set_payload(att.content)
            encoders.encode_base64(part)
            filename: str | tuple[str, str, str] = (
                att.filename if att.filename.isascii() else ("utf-8", "", att.filename)
            )
            part.add_header("Content-Disposition", "attachment", filename=filename)
            msg.attach(part)
    msg["From"] = _header_address(from_)
    if email.to:
        msg["To"] = _header_address(", ".join(email.to))
    if email.cc:
        msg["Cc"] = _header_address(", ".join(email.cc))
    if include_bcc and email.bcc:
        msg["Bcc"] = _header_address(", ".join(email.bcc))
    if email.reply_to:
        msg["Reply-To"] = _header_address(email.reply_to)
    msg["Subject"] = _header_text(email.subject)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = email.message_id
    if "MIME-Version" not in msg:
        msg["MIME-Version"] = "1.0"
    msg.policy = _WIRE  # CRLF line endings: smtplib sends bytes as they are
    return msg


def envelope_address(address: str) -> str:
    """The bare address of a header value, for the SMTP envelope."""
    start, end = address.rfind("<"), address.rfind(">")
    if start == -1 and '"' not in address:
        return address.strip()  # already a bare address
    if start != -1 and end > start:
        return address[start + 1 : end].strip()  # canonical 'Name <addr>' as intake wrote it
    return Address(addr_spec=parseaddr(address)[1]).addr_spec
