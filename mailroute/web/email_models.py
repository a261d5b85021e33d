"""What the email and connection routes answer, as models (documented in `/openapi.json`,
checked by FastAPI on every answer). The request body of `POST /v1/emails` is the
`EmailRequest` schema of `web/openapi.py`, not a model here: intake reads it with the very rules
every other door applies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from mailroute.core.connection import ConnectionState
from mailroute.events.email import Kind, Route

EmailStatus = Literal["accepted", "queued", "sending", "retrying", "sent", "failed"]
_EMAIL_ID = "3f1c2b9e-8a4d-5e6f-9a0b-1c2d3e4f5a6b"
_LINK = f"/v1/emails/{_EMAIL_ID}"


class Links(BaseModel):
    self: str = Field(description="Where to ask for the email's status and outcome.")


class EmailAccepted(BaseModel):
    """The email is stored and will be routed; poll `links.self` or hear its outcome."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": _EMAIL_ID,
                "event_id": "invoice-2026-0042-sent",
                "status": "accepted",
                "correlation_id": "billing-7781",
                "replayed": False,
                "links": {"self": _LINK},
            }
        }
    )

    id: str = Field(description="The email's id (a UUID derived from company and event id).")
    event_id: str
    status: Literal["accepted"]
    correlation_id: str
    replayed: bool = Field(
        description="True when this event id was accepted before with the same request: this"
        " is the first answer again (also the `Idempotent-Replayed: true` header)."
    )
    links: Links


class EmailQueued(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": _EMAIL_ID,
                "status": "queued",
                "route": "gmail",
                "links": {"self": _LINK},
            }
        }
    )

    id: str
    status: Literal["queued"]
    route: Route
    links: Links


class EmailError(BaseModel):
    code: str = Field(description="`gmail_not_connected`, `smtp_rejected`, `dead_lettered`, ….")
    message: str


class EmailView(BaseModel):
    """An email's status and, once it ended, its outcome."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "example": {
                "id": _EMAIL_ID,
                "event_id": "invoice-2026-0042-sent",
                "kind": "invoice",
                "status": "sent",
                "route": "gmail",
                "from": "Acme Ltd <billing@acme.example>",
                "to": ["Jane Doe <jane@example.com>"],
                "subject": "Invoice 2026-0042 from Acme",
                "attempts": 1,
                "error": None,
                "provider_message_id": "18c2f4a9b7e3d1c0",
                "submitted_only": False,
                "message_id": "<3f1c2b9e.8a4d@mailroute.acme.example>",
                "possible_duplicate": False,
                "created_at": "2026-12-01T09:00:00+00:00",
                "updated_at": "2026-12-01T09:00:01+00:00",
                "sent_at": "2026-12-01T09:00:01+00:00",
                "content_purged_at": None,
            }
        },
    )

    id: str
    event_id: str
    kind: Kind
    status: EmailStatus
    route: Route | None
    from_: str | None = Field(alias="from", description="As people read it, never RFC 2047.")
    to: list[str]
    subject: str
    attempts: int
    error: EmailError | None
    provider_message_id: str | None = Field(
        description="The provider's id of the sent message (Gmail's); null for SMTP and for"
        " Microsoft 365, whose Graph names no message."
    )
    submitted_only: bool = Field(
        default=False,
        description="True for an email sent through Microsoft 365: Graph answered 202, which"
        " means the message was submitted for delivery, not that it was delivered (Exchange may"
        " still bounce it to the mailbox). False for Gmail (an id) and SMTP (250 accepted).",
    )
    message_id: str | None = Field(description="The Message-ID header, set once routed.")
    possible_duplicate: bool
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    content_purged_at: datetime | None = Field(
        description="When the email's bodies and attachments were deleted, RETENTION_DAYS"
        " (30 by default) after its outcome; its record stays. Null while they are kept. Such"
        " an email cannot be sent again (`POST /v1/emails/{id}/retry` answers 409"
        " `content_purged`)."
    )


class AuthorizeRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"switch_account": False}}
    )

    switch_account: StrictBool = Field(
        default=False, description="Offer a different account than the connected one."
    )


class AuthorizationStarted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "authorization_url": "https://accounts.google.com/o/oauth2/v2/auth?...",
                "expires_in": 600,
            }
        }
    )

    authorization_url: str = Field(description="Open it in the admin's browser (a popup).")
    expires_in: int = Field(description="Seconds the URL's state stays valid.")


class FromOption(BaseModel):
    sender: Literal["gmail", "microsoft", "default"] = Field(
        description="What `sender` in `POST /v1/emails` calls this address."
    )
    address: str
    label: str
    enabled: bool
    reason: str | None


class Mailbox(BaseModel):
    """One provider's mailbox connection."""

    provider: Literal["gmail", "microsoft"]
    label: str = Field(description="How the page names it: `Gmail`, `Microsoft 365`.")
    state: ConnectionState = Field(
        description="`active` is shown Active; the others Not connected."
    )
    address: str | None
    reason_code: str | None
    reason: str | None = Field(description="Why it is not connected, in words.")
    connected_at: datetime | None
    last_verified_at: datetime | None
    broken_at: datetime | None
    available: bool = Field(
        description="False when this server is not set up to sign in with the provider."
    )
    expires_at: datetime | None = Field(
        default=None,
        description="When the mailbox's authorization is known to end, as the provider announced"
        " it (Google, for a project in testing mode: 7 days after the sign-in; time-based"
        " access). Null when no end is known, and for a mailbox that is not active.",
    )
    expires_soon: bool = Field(
        default=False,
        description="True when `expires_at` is within 3 days: re-authorize before then, or"
        " emails from this mailbox start failing at `expires_at`. The page shows Expires soon.",
    )


_MAILBOX_EXAMPLE = {
    "label": "Gmail",
    "state": "active",
    "address": "billing@acme.example",
    "reason_code": None,
    "reason": None,
    "connected_at": "2026-11-02T10:00:00+00:00",
    "last_verified_at": "2026-12-01T09:00:00+00:00",
    "broken_at": None,
    "available": True,
    "expires_at": None,
    "expires_soon": False,
}


class EmailSettingsView(BaseModel):
    """The company's mailboxes as the settings page shows them. The top-level connection
    fields describe the Gmail mailbox (as before Microsoft 365 existed: an alias of
    `mailboxes[provider=gmail]`); `mailboxes` lists every provider's."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "state": "active",
                "address": "billing@acme.example",
                "last_verified_at": "2026-12-01T09:00:00+00:00",
                "connected_at": "2026-11-02T10:00:00+00:00",
                "broken_at": None,
                "reason_code": None,
                "reason": None,
                "from_options": [
                    {
                        "sender": "gmail",
                        "address": "billing@acme.example",
                        "label": "Acme Ltd <billing@acme.example> (Gmail)",
                        "enabled": True,
                        "reason": None,
                    }
                ],
                "mailboxes": [
                    {"provider": "gmail", **_MAILBOX_EXAMPLE},
                    {
                        **_MAILBOX_EXAMPLE,
                        "provider": "microsoft",
                        "label": "Microsoft 365",
                        "state": "disconnected",
                        "address": None,
                        "connected_at": None,
                        "last_verified_at": None,
                    },
                ],
            }
        }
    )

    state: ConnectionState = Field(
        description="`active` is shown Active; the others Not connected."
    )
    address: str | None
    last_verified_at: datetime | None
    connected_at: datetime | None
    broken_at: datetime | None
    reason_code: str | None
    reason: str | None = Field(description="Why it is not connected, in words.")
    from_options: list[FromOption]
    mailboxes: list[Mailbox] = Field(description="Every provider's mailbox, Gmail first.")


class Revocation(BaseModel):
    address: str
    google_confirmed: bool
    problem: str | None


class RevokeResult(EmailSettingsView):
    revocation: Revocation | None = Field(description="Null when nothing was connected.")


class VerifyResult(EmailSettingsView):
    checked: bool
    problem: str | None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(description="`database`, `broker`: `ok` or what failed.")
