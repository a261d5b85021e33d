"""RFC 5322 reading for the sandbox: the one parsed shape shared by the SMTP sink and "Gmail".

`read_headers` is the cheap header-only pass the send paths use to validate and rewrite; the full
`parsed_message` (bodies and attachments) is built only when a test reads a message back.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses
from typing import Any

JsonDict = dict[str, Any]

_HEADER_PARSER = BytesHeaderParser(policy=email.policy.default)
_FULL_PARSER = BytesParser(policy=email.policy.default)


def read_headers(raw: bytes) -> EmailMessage:
    """Parse only the header block of `raw` (fast, whatever the size of the body)."""
    message = _HEADER_PARSER.parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def header_text(message: Message, name: str) -> str | None:
    """The header's value as text, or None when absent or unreadable."""
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):
        return None
    return None if value is None else str(value)


def addresses(message: Message, name: str) -> list[str]:
    """Bare addresses of every occurrence of an address header; '' marks an unparsable one."""
    values: list[str] = []
    for value in _raw_values(message, name):
        for display, addr in getaddresses([value]):
            if addr or display:
                values.append(addr if _looks_like_address(addr) else "")
    return values


def all_addresses_valid(message: Message, name: str) -> bool:
    """False when the header is present but names something that is not an address."""
    raw_values = _raw_values(message, name)
    if not raw_values:
        return True
    found = addresses(message, name)
    return bool(found) and all(found)


def _raw_values(message: Message, name: str) -> list[str]:
    raw: list[str] = []
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            raw.append(str(value).replace("\r", "").replace("\n", ""))
    return raw


def _looks_like_address(addr: str) -> bool:
    local, sep, domain = addr.rpartition("@")
    return bool(sep and local and domain and " " not in addr and "." in domain)


def parsed_message(raw: bytes, *, include_content: bool = True) -> JsonDict:
    """The message as the sink and "Gmail" report it: headers, bodies and attachments."""
    message = _FULL_PARSER.parsebytes(raw)
    assert isinstance(message, EmailMessage)
    headers: dict[str, str | list[str]] = {}
    for key, value in message.raw_items():
        text = _unfold(str(value))
        previous = headers.get(key)
        if previous is None:
            headers[key] = text
        elif isinstance(previous, list):
            previous.append(text)
        else:
            headers[key] = [previous, text]
    text_part = _body(message, "plain")
    html_part = _body(message, "html")
    attachments = [
        _attachment(part, include_content=include_content)
        for part in message.walk()
        if not part.is_multipart()
        and part is not text_part
        and part is not html_part
        and (part.get_content_disposition() == "attachment" or part.get_filename())
    ]
    return {
        "from": header_text(message, "From"),
        "to": [a for a in addresses(message, "To") if a],
        "cc": [a for a in addresses(message, "Cc") if a],
        "reply_to": header_text(message, "Reply-To"),
        "subject": header_text(message, "Subject"),
        "message_id": header_text(message, "Message-ID"),
        "headers": headers,
        "text": _content(text_part),
        "html": _content(html_part),
        "attachments": attachments,
        "size": len(raw),
    }


def _unfold(value: str) -> str:
    return " ".join(value.replace("\r", "").split("\n")).strip()


def _body(message: EmailMessage, subtype: str) -> EmailMessage | None:
    try:
        part = message.get_body(preferencelist=(subtype,))
    except (KeyError, ValueError):
        return None
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    assert isinstance(part, EmailMessage)
    return part


def _content(part: EmailMessage | None) -> str | None:
    if part is None:
        return None
    try:
        text = str(part.get_content())
    except (LookupError, ValueError):
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return text.replace("\r\n", "\n")


def _attachment(part: Message, *, include_content: bool) -> JsonDict:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    found: JsonDict = {
        "filename": part.get_filename(),
        "content_type": part.get_content_type(),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if include_content:
        found["content_base64"] = base64.b64encode(data).decode("ascii")
    return found


def split_header_block(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """(header block, line ending, the rest starting at the blank line) of a raw message."""
    crlf = raw.find(b"\r\n\r\n")
    lf = raw.find(b"\n\n")
    if crlf == -1 and lf == -1:
        eol = b"\r\n" if b"\r\n" in raw else b"\n"
        return raw.rstrip(b"\r\n"), eol, eol
    if crlf != -1 and (lf == -1 or crlf <= lf):
        return raw[:crlf], b"\r\n", raw[crlf:]
    return raw[:lf], b"\n", raw[lf:]


def rewrite_headers(raw: bytes, replace: dict[str, str], drop: frozenset[str]) -> bytes:
    """`raw` with the `replace` headers set (placed first) and the `drop` headers removed.

    Only the header block is touched, so a large body is copied once and never re-encoded.
    """
    head, eol, rest = split_header_block(raw)
    removed = drop | {name.lower() for name in replace}
    groups: list[list[bytes]] = []
    for line in head.split(eol):
        if line[:1] in (b" ", b"\t") and groups:
            groups[-1].append(line)
        else:
            groups.append([line])
    kept = [
        eol.join(group)
        for group in groups
        if group[0].split(b":", 1)[0].strip().lower().decode("ascii", "replace") not in removed
    ]
    added = [f"{name}: {value}".encode() for name, value in replace.items()]
    return eol.join(added + kept) + rest


def first_address(message: Message, name: str) -> tuple[str, str] | None:
    """(display name, address) of the first address in a header, decoded, if any."""
    try:
        header = message.get(name)
        found = list(getattr(header, "addresses", ()))
    except (ValueError, IndexError, TypeError):
        found = []
    for address in found:
        if address.addr_spec and "@" in address.addr_spec:
            return str(address.display_name), str(address.addr_spec)
    for value in _raw_values(message, name):
        for display, addr in getaddresses([value]):
            if addr:
                return display, addr
    return None
