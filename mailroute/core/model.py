"""Value types the rules work on: a stored email and its attachments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Route = Literal["gmail", "microsoft", "default"]
Status = Literal["queued", "sending", "retrying", "sent", "failed"]


@dataclass(frozen=True)
class StoredAttachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class OutgoingEmail:
    """One email as stored at dispatch, ready to be turned into an RFC 5322 message."""

    id: str
    company_id: str
    event_id: str
    subject: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    text: str | None = None
    html: str | None = None
    reply_to: str | None = None
    message_id: str = ""
    attachments: tuple[StoredAttachment, ...] = field(default_factory=tuple)

    @property
    def recipients(self) -> tuple[str, ...]:
        return (*self.to, *self.cc, *self.bcc)
