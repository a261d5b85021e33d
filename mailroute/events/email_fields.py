"""The field types of `EmailRequested`, each with its rules: header text, names, bodies,
addresses, ids, and attachments.

A rule breaks with `PydanticCustomError(rule, message)`; `field_problems` turns it into a field
problem. The text rules themselves live in `text_rules`, the file-type rules in `file_types`.
"""

from __future__ import annotations

import base64
import binascii
import re
from email.utils import formataddr, getaddresses
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from mailroute.events import file_types
from mailroute.events.ids import UUID_MESSAGE, UUID_RULE, is_canonical_uuid
from mailroute.events.text_rules import Problem, header_problem, name_problem, text_problem

MAX_RECIPIENTS = 100  # Gmail's per-message limit; we hold SMTP to the same rule
MAX_ATTACHMENTS = 100  # far more than any invoice needs; each one is a MIME part and a row
MAX_ADDRESS_LENGTH = 998  # one header line
_MIME_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")
CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}\Z")


def _refuse(problem: Problem | None) -> None:
    if problem is not None:
        raise PydanticCustomError(*problem)


def _header_text(value: str) -> str:
    _refuse(header_problem(value))
    return value


def _name_text(value: str) -> str:
    _refuse(name_problem(value))
    return value


def _body_text(value: str) -> str:
    _refuse(text_problem(value))
    return value


def _email_address(value: str) -> str:
    _refuse(header_problem(value))
    parsed = getaddresses([value])
    if len(parsed) != 1:
        raise PydanticCustomError("one_address", "must hold exactly one email address")
    name, addr = parsed[0]
    if not addr or "@" not in addr:
        raise PydanticCustomError(
            "email_address", "is not an email address: {value}", {"value": value}
        )
    _refuse(name_problem(name))
    if not addr.isascii():  # neither route sends SMTPUTF8; a domain is written as xn--…
        raise PydanticCustomError(
            "ascii_address",
            "must be an ASCII address (an internationalized domain written in its xn-- form):"
            " {value}",
            {"value": addr},
        )
    try:
        checked = validate_email(addr, check_deliverability=False, test_environment=True)
    except (EmailNotValidError, UnicodeError, ValueError) as exc:
        raise PydanticCustomError(
            "email_address", "is not a valid email address: {reason}", {"reason": str(exc)}
        ) from None
    address = checked.ascii_email or checked.normalized
    return format_address(name, address) if name else address


_SPECIALS = frozenset('()<>@,:;."[]\\')


def format_address(name: str, address: str) -> str:
    """'Name <address>' as people read it: the name quoted when it needs to be, never RFC 2047
    encoded (`email.utils.formataddr` encodes a name that is not ASCII; the message builder
    does that on the wire)."""
    if name.isascii():
        return formataddr((name, address))
    if _SPECIALS.intersection(name) or "\t" in name:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{address}>'
    return f"{name} <{address}>"


def _correlation_id(value: str) -> str:
    if not CORRELATION_ID.match(value):
        raise PydanticCustomError(
            "correlation_id", "must be 1 to 100 letters, digits or the characters . _ : -"
        )
    return value


def _canonical_uuid(value: str) -> str:
    if not is_canonical_uuid(value):
        raise PydanticCustomError(UUID_RULE, UUID_MESSAGE)
    return value


def at_most(limit: int, rule: str, what: str) -> BeforeValidator:
    """A list of at most `limit` items, checked before any item is (a million addresses are
    refused at once, not validated one by one first)."""

    def check(value: Any) -> Any:
        if isinstance(value, list | tuple) and len(value) > limit:
            raise PydanticCustomError(
                rule,
                "at most {limit} {what} (got {count})",
                {"limit": limit, "what": what, "count": len(value)},
            )
        return value

    return BeforeValidator(check)


# The rules as metadata, placed after any length constraint (`Annotated[str, Field(max_length=9),
# HEADER]`) so a length is checked, and named, as a string's.
HEADER = AfterValidator(_header_text)
NAME = AfterValidator(_name_text)
BodyText = Annotated[str, AfterValidator(_body_text)]
CorrelationId = Annotated[str, AfterValidator(_correlation_id)]
CompanyId = Annotated[str, AfterValidator(_canonical_uuid)]
Address = Annotated[str, Field(max_length=MAX_ADDRESS_LENGTH), AfterValidator(_email_address)]
Recipients = Annotated[list[Address], at_most(MAX_RECIPIENTS, "max_recipients", "recipients")]


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", revalidate_instances="always")

    filename: Annotated[str, Field(min_length=1, max_length=255), NAME]
    content_type: Annotated[str, Field(min_length=1, max_length=255)]
    content_base64: str

    @model_validator(mode="after")
    def _check(self) -> Attachment:
        if not _MIME_TYPE.fullmatch(self.content_type):
            raise PydanticCustomError(
                "content_type",
                "must be a MIME type such as application/pdf",
                {"field": "content_type"},
            )
        if "/" in self.filename or "\\" in self.filename:
            raise PydanticCustomError(
                "filename", "must be a file name, not a path", {"field": "filename"}
            )
        extension = file_types.blocked_extension(self.filename)
        if extension is not None:
            _blocked("filename", "a .{what} file is a type Gmail refuses to send", extension)
        if file_types.blocked_content_type(self.content_type):
            _blocked("content_type", "{what} is a type Gmail refuses to send", self.content_type)
        try:
            content = base64.b64decode(self.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise PydanticCustomError(
                "base64", "must be valid base64", {"field": "content_base64"}
            ) from None
        why = file_types.blocked_content(content)
        if why is not None:
            _blocked("content_base64", "the file {what}, a type Gmail refuses to send", why)
        return self

    @property
    def content(self) -> bytes:
        return base64.b64decode(self.content_base64, validate=True)

    @property
    def size(self) -> int:
        """Decoded size in bytes, computed without decoding."""
        data = self.content_base64.rstrip()
        return len(data) * 3 // 4 - data[-2:].count("=")


def _blocked(field: str, template: str, what: str) -> None:
    raise PydanticCustomError("blocked_file_type", template, {"field": field, "what": what})


Attachments = Annotated[
    list[Attachment], at_most(MAX_ATTACHMENTS, "max_attachments", "attachments")
]
