"""Build the RFC 5322 message for an email: text and html as alternatives, attachments, a stable
Message-ID derived from the email id (the same across retries, so a duplicate can be recognised).

Headers are written so a modern parser (`email.policy.default`) reads back exactly what was
sent: a Subject is folded at its own spaces when it is plain ASCII that survives unfolding, and
otherwise written as RFC 2047 encoded words that start on the Subject line itself (compat32's own
folding moved the first word to a line of its own, which a reader sees as a leading space); the
Message-ID is never folded. Names stored before intake refused line breaks in them (a company's
name) are made one line here, so building a message never fails on one.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from email import encoders
from email.charset import QP, Charset
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, getaddresses, parseaddr

from mailroute.core.model import OutgoingEmail
from mailroute.events.email_fields import format_address
from mailroute.events.text_rules import one_line

_WIRE = compat32.clone(linesep="\r\n")
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP  # readable in a raw message, unlike base64
_UTF8_WORDS = Charset("utf-8")  # encoded words: the shorter of Q and base64, chunk by chunk
_MAX_LINE = 78  # RFC 5322's SHOULD; lines never pass its 998 MUST
_MAX_SMTP_LINE = 998
_NAMESPACE = uuid.UUID("5b0f3e0e-7f1c-4a55-9a3c-2f1a4f6e8d11")


def email_id_for(company_id: str, event_id: str) -> str:
    """The email's id, derived from (company, event) so intake can answer it at once."""
    return str(uuid.uuid5(_NAMESPACE, f"{company_id}/{event_id}"))


def message_id_for(email_id: str, from_address: str) -> str:
    """A stable Message-ID: the same for every attempt at the same email."""
    domain = bare_address(from_address).rpartition("@")[2] or "mailroute.localhost"
    return f"<{email_id}@{domain}>"


def from_header(display_name: str, address: str) -> str:
    """'Name <address>' as people read it (not RFC 2047-encoded: the message builder encodes),
    the name made one line and quoted when it needs to be."""
    name = one_line(display_name).strip()
    addr = bare_address(address)
    return format_address(name, addr) if name else addr


def readable_address(value: str | None) -> str | None:
    """A header address as people read it: RFC 2047 encoded words decoded (From values stored
    before `from_header` wrote human text)."""
    if not value or "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


@functools.lru_cache(maxsize=1024)
def bare_address(value: str) -> str:
    """The addr-spec of a header address ('Name <a@b.example>' -> 'a@b.example'), cached: the
    same few (the default sender, a company's Gmail) come up on every email."""
    return parseaddr(value)[1]


def _header_address(value: str) -> str:
    """An address for a header, its display name RFC 2047-encoded when it is not ASCII."""
    value = one_line(value)
    if value.isascii():
        return value  # intake already wrote it in canonical form
    return ", ".join(
        formataddr((name, addr), charset="utf-8") for name, addr in getaddresses([value])
    )


class _Folded:
    """A header value written as it is (compat32 re-folds a str, but not a Header-like object)."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    def encode(self, splitchars: str = "", maxlinelen: int = 0, linesep: str = "\n") -> str:
        return linesep.join(self._lines)

    def __str__(self) -> str:
        return "".join(self._lines)


def _plain_lines(name: str, value: str) -> list[str] | None:
    """`value` folded at its spaces, when it is printable ASCII a reader gets back unchanged
    (no leading or trailing space, nothing that looks like an encoded word) and every line fits."""
    if not all(" " <= c <= "~" for c in value) or value != value.strip() or "=?" in value:
        return None
    lines, line = [], f"{name}: "
    for i, word in enumerate(value.split(" ")):
        piece = word if i == 0 else " " + word
        if i > 0 and word and len(line) + len(piece) > _MAX_LINE and line.strip():
            lines.append(line)
            line = piece
        else:
            line += piece
    lines.append(line)
    if any(len(text) > _MAX_LINE for text in lines):
        return None
    lines[0] = lines[0][len(name) + 2 :]
    return lines


def _encoded_lines(name: str, value: str) -> list[str]:
    """`value` as RFC 2047 encoded words, one per line, the first on the header's own line."""

    def lengths() -> Iterator[int]:
        yield _MAX_LINE - len(name) - 2
        while True:
            yield _MAX_LINE - 1

    words = [word or "" for word in _UTF8_WORDS.header_encode_lines(value, lengths())]
    return [words[0], *(" " + word for word in words[1:])]


def _header_text(name: str, value: str) -> _Folded:
    value = one_line(value)
    return _Folded(_plain_lines(name, value) or _encoded_lines(name, value))


def _text(body: str, subtype: str) -> Message:
    """7bit when it can be; quoted-printable (UTF-8) when it is not ASCII or has a line longer
    than SMTP's 998 characters (a one-line HTML body, say)."""
    if body.isascii() and max(map(len, body.splitlines()), default=0) <= _MAX_SMTP_LINE:
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
    msg["Subject"] = _header_text("Subject", email.subject)  # type: ignore[assignment]
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = _Folded([one_line(email.message_id)])  # type: ignore[assignment]
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
