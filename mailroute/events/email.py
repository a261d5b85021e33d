"""The email events: `EmailRequested` in, `EmailSent` / `EmailFailed` / `AuthBroken` /
`GmailConnectionChanged` out.

On the wire each is a JSON object with `type` and `schema_version`. `read_event` upgrades older
versions and ignores unknown keys (tolerant reader); a message that cannot be read raises
`UnreadableEventError`, which callers treat as permanent (never retried).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from mailroute.events import wire_json
from mailroute.events.base import (
    CURRENT_SCHEMA_VERSION,
    FieldProblem,
    InvalidEventError,
    UnreadableEventError,
    field_problems,
)
from mailroute.events.email_fields import CORRELATION_ID as CORRELATION_ID  # re-exported
from mailroute.events.email_fields import (
    HEADER,
    Address,
    Attachments,
    BodyText,
    CompanyId,
    CorrelationId,
    Recipients,
)
from mailroute.events.email_fields import MAX_RECIPIENTS as MAX_RECIPIENTS  # re-exported

Kind = Literal["invoice", "estimate", "reminder", "receipt", "other"]
SenderChoice = Literal["gmail", "microsoft", "default", "auto"]


def _known_version(value: int) -> int:
    if not 1 <= value <= CURRENT_SCHEMA_VERSION:
        raise PydanticCustomError(
            "schema_version",
            "unknown schema_version {value}; this reader knows 1..{current}",
            {"value": value, "current": CURRENT_SCHEMA_VERSION},
        )
    return value


SchemaVersion = Annotated[StrictInt, AfterValidator(_known_version)]


class _Wire(BaseModel):
    """Base of every event: frozen, tolerant of unknown keys, with its type and version."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)
    type_name: ClassVar[str]
    schema_version: SchemaVersion = CURRENT_SCHEMA_VERSION

    def to_wire(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["type"] = self.type_name
        return data


class EmailRequested(_Wire):
    """A producer asks mailroute to send one email for a company."""

    type_name: ClassVar[str] = "EmailRequested"
    # An instance handed to `publish` is checked again: one made with `model_construct` (or
    # changed since) meets every rule too, as a dict would.
    model_config = ConfigDict(revalidate_instances="always")

    event_id: Annotated[str, Field(min_length=1, max_length=200), HEADER]
    company_id: CompanyId
    kind: Kind = "other"
    sender: SenderChoice = "auto"
    to: Recipients = Field(default_factory=list)
    cc: Recipients = Field(default_factory=list)
    bcc: Recipients = Field(default_factory=list)
    reply_to: Address | None = None
    subject: Annotated[str, Field(min_length=1, max_length=998), HEADER]
    text: BodyText | None = None
    html: BodyText | None = None
    attachments: Attachments = Field(default_factory=list)
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

    @property
    def fingerprint(self) -> str:
        """The request's sha256 (hex) over every field but `event_id` and `correlation_id`:
        the same event id with another fingerprint is another request, not a retry."""
        fields = self.model_dump(mode="json", exclude={"event_id", "correlation_id"})
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()

    @classmethod
    def parse(cls, data: Any) -> EmailRequested:
        """Validate a producer's input (a mapping or an instance); `InvalidEventError` names
        every bad field and rule."""
        try:
            if not isinstance(data, EmailRequested):
                wire_json.check_depth(data)
            return cls.model_validate(data)
        except wire_json.TooDeepError as exc:
            raise InvalidEventError(
                [FieldProblem(exc.field or "(event)", exc.rule, str(exc))]
            ) from None
        except ValidationError as exc:
            raise InvalidEventError(field_problems(exc)) from None


Route = Literal["gmail", "microsoft", "default"]
# The mailbox provider a connection event is about (`mailroute.core.providers`). Events that
# existed before a second provider keep their names (`GmailConnectionChanged` is the event of
# any mailbox connection) and default this field to "gmail", so older consumers keep working.
Provider = Literal["gmail", "microsoft"]


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
    # The provider accepted the message for delivery without naming it (Microsoft Graph answers
    # 202 with no id): submitted, not delivered; `provider_message_id` is then null.
    submitted_only: bool = False


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
    """A mailbox connection moved active → not_connected; one per (connection, generation)."""

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
    provider: Provider = "gmail"


class GmailConnectionChanged(_Wire):
    """A mailbox connection changed state (the name is kept from when Gmail was the only
    provider; `provider` says which)."""

    type_name: ClassVar[str] = "GmailConnectionChanged"

    connection_id: str
    company_id: str
    state: Literal["disconnected", "active", "not_connected"]
    generation: int
    address: str | None = None
    reason: str | None = None
    changed_at: datetime
    provider: Provider = "gmail"


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
    try:
        if isinstance(raw, str | bytes):
            raw = wire_json.loads(raw)
        else:
            wire_json.check_depth(raw)
    except wire_json.TooDeepError as exc:
        raise UnreadableEventError(f"{exc.field or 'the event'}: {exc} ({exc.rule})") from None
    except ValueError as exc:
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
