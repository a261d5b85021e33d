"""The email events: `EmailRequested` in, `EmailSent` / `EmailFailed` / `AuthBroken` /
`GmailConnectionChanged` out.

On the wire each is a JSON object with `type` and `schema_version`. `read_event` upgrades older
versions and ignores unknown keys (tolerant reader); a message that cannot be read raises
`UnreadableEventError`, which callers treat as permanent (never retried).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from email.utils import formataddr, getaddresses
from typing import Annotated, Any, ClassVar, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from mailroute.events.base import (
    CURRENT_SCHEMA_VERSION,
    InvalidEventError,
    UnreadableEventError,
    field_problems,
)

MAX_RECIPIENTS = 100  # Gmail's per-message limit; we hold SMTP to the same rule
_CRLF = re.compile(r"[\r\n]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MIME_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")

Kind = Literal["invoice", "estimate", "reminder", "receipt", "other"]
SenderChoice = Literal["gmail", "default", "auto"]


def _no_header_injection(value: str) -> str:
    if _CRLF.search(value):
        raise PydanticCustomError("header_injection", "must not contain CR or LF characters")
    if _CONTROL.search(value):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return value


def _email_address(value: str) -> str:
    _no_header_injection(value)
    parsed = getaddresses([value])
    if len(parsed) != 1:
        raise PydanticCustomError("one_address", "must hold exactly one email address")
    name, addr = parsed[0]
    if not addr or "@" not in addr:
        raise PydanticCustomError(
            "email_address", "is not an email address: {value}", {"value": value}
        )
    try:
        checked = validate_email(addr, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise PydanticCustomError(
            "email_address", "is not a valid email address: {reason}", {"reason": str(exc)}
        ) from None
    return formataddr((name, checked.normalized)) if name else checked.normalized


HeaderText = Annotated[str, AfterValidator(_no_header_injection)]
CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def _correlation_id(value: str) -> str:
    if not CORRELATION_ID.match(value):
        raise PydanticCustomError(
            "correlation_id", "must be 1 to 100 letters, digits or the characters . _ : -"
        )
    return value


CorrelationId = Annotated[str, AfterValidator(_correlation_id)]
Address = Annotated[str, AfterValidator(_email_address)]


class _Wire(BaseModel):
    """Base of every event: frozen, tolerant of unknown keys, with its type and version."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)
    type_name: ClassVar[str]
    schema_version: int = CURRENT_SCHEMA_VERSION

    def to_wire(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["type"] = self.type_name
        return data


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    filename: Annotated[HeaderText, Field(min_length=1, max_length=255)]
    content_type: Annotated[str, Field(min_length=1, max_length=255)]
    content_base64: str

    @model_validator(mode="after")
    def _check(self) -> Attachment:
        if not _MIME_TYPE.match(self.content_type):
            raise PydanticCustomError(
                "content_type",
                "must be a MIME type such as application/pdf",
                {"field": "content_type"},
            )
        if "/" in self.filename or "\\" in self.filename:
            raise PydanticCustomError(
                "filename", "must be a file name, not a path", {"field": "filename"}
            )
        try:
            base64.b64decode(self.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise PydanticCustomError(
                "base64", "must be valid base64", {"field": "content_base64"}
            ) from None
        return self

    @property
    def content(self) -> bytes:
        return base64.b64decode(self.content_base64, validate=True)

    @property
    def size(self) -> int:
        """Decoded size in bytes, computed without decoding."""
        data = self.content_base64.rstrip()
        return len(data) * 3 // 4 - data[-2:].count("=")


class EmailRequested(_Wire):
    """A producer asks mailroute to send one email for a company."""

    type_name: ClassVar[str] = "EmailRequested"

    event_id: Annotated[HeaderText, Field(min_length=1, max_length=200)]
    company_id: Annotated[str, Field(min_length=1, max_length=64)]
    kind: Kind = "other"
    sender: SenderChoice = "auto"
    to: list[Address] = Field(default_factory=list)
    cc: list[Address] = Field(default_factory=list)
    bcc: list[Address] = Field(default_factory=list)
    reply_to: Address | None = None
    subject: Annotated[HeaderText, Field(min_length=1, max_length=998)]
    text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    # Optional: the producer's id for tracing this email across services (every log line and
    # outcome event of the email carries it); mailroute makes one when none is given.
    correlation_id: CorrelationId | None = None

    @model_validator(mode="after")
    def _check(self) -> EmailRequested:
        if not self.subject.strip():
            raise PydanticCustomError("not_empty", "must not be blank", {"field": "subject"})
        count = len(self.to) + len(self.cc) + len(self.bcc)
        if count == 0:
            raise PydanticCustomError(
                "recipient_required", "at least one recipient in to, cc or bcc", {"field": "to"}
            )
        if count > MAX_RECIPIENTS:
            raise PydanticCustomError(
                "max_recipients",
                "at most {limit} recipients in to, cc and bcc together (got {count})",
                {"field": "to", "limit": MAX_RECIPIENTS, "count": count},
            )
        if not (self.text and self.text.strip()) and not (self.html and self.html.strip()):
            raise PydanticCustomError(
                "body_required", "a text or an html body is required", {"field": "text"}
            )
        return self

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]

    @property
    def size(self) -> int:
        """Approximate size of the message content: bodies plus decoded attachments."""
        body = len((self.text or "").encode()) + len((self.html or "").encode())
        return body + sum(a.size for a in self.attachments)

    @classmethod
    def parse(cls, data: Any) -> EmailRequested:
        """Validate a producer's input; `InvalidEventError` names every bad field and rule."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidEventError(field_problems(exc)) from None


Route = Literal["gmail", "default"]


class EmailSent(_Wire):
    type_name: ClassVar[str] = "EmailSent"

    email_id: str
    event_id: str
    company_id: str
    route: Route
    from_address: str
    message_id: str
    provider_message_id: str | None = None
    possible_duplicate: bool = False
    sent_at: datetime
    correlation_id: str | None = None


class EmailFailed(_Wire):
    type_name: ClassVar[str] = "EmailFailed"

    email_id: str
    event_id: str
    company_id: str
    route: Route | None = None
    from_address: str | None = None
    error_code: str
    error_message: str
    failed_at: datetime
    correlation_id: str | None = None


class AuthBroken(_Wire):
    """A Gmail connection moved active → not_connected; one per (connection, generation)."""

    type_name: ClassVar[str] = "AuthBroken"

    connection_id: str
    company_id: str
    generation: int
    reason: str
    broken_at: datetime
    # The account that broke (the notice names it) and the correlation id of whatever found
    # the break (the send of one email, or the clock's check).
    address: str | None = None
    correlation_id: str | None = None


class GmailConnectionChanged(_Wire):
    type_name: ClassVar[str] = "GmailConnectionChanged"

    connection_id: str
    company_id: str
    state: Literal["disconnected", "active", "not_connected"]
    generation: int
    address: str | None = None
    reason: str | None = None
    changed_at: datetime


Event = EmailRequested | EmailSent | EmailFailed | AuthBroken | GmailConnectionChanged
_TYPES: dict[str, type[_Wire]] = {
    cls.type_name: cls
    for cls in (EmailRequested, EmailSent, EmailFailed, AuthBroken, GmailConnectionChanged)
}


def _upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older schema version up to the current one (only version 1 exists so far)."""
    version = data.get("schema_version", CURRENT_SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool):
        raise UnreadableEventError(f"schema_version must be an integer, got {version!r}")
    if version > CURRENT_SCHEMA_VERSION or version < 1:
        raise UnreadableEventError(
            f"unknown schema_version {version}; this reader knows 1..{CURRENT_SCHEMA_VERSION}"
        )
    return data


def read_event(raw: str | bytes | dict[str, Any], expected: str | None = None) -> Any:
    """Read one event from the wire. Raises `UnreadableEventError` or `InvalidEventError`."""
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise UnreadableEventError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise UnreadableEventError(f"an event is a JSON object, got {type(raw).__name__}")
    type_name = raw.get("type", expected)
    if expected is not None and type_name != expected:
        raise UnreadableEventError(f"expected a {expected} event, got type {type_name!r}")
    cls = _TYPES.get(str(type_name))
    if cls is None:
        raise UnreadableEventError(f"unknown event type {type_name!r}")
    data = _upgrade(dict(raw))
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise InvalidEventError(field_problems(exc)) from None
