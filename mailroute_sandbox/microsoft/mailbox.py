"""Each account's Outlook mailbox as far as sending goes: drafts (made from MIME, with attachments
added through upload sessions), open upload sessions and the "sent" list. Thread-safe.
"""

from __future__ import annotations

import base64
import email.policy
import secrets
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser

from mailroute_sandbox import clock
from mailroute_sandbox.mime import JsonDict, parsed_message

UPLOAD_SESSION_SECONDS = 15 * 60


def graph_id() -> str:
    """An id shaped like Graph's message ids (base64url of random bytes)."""
    return "AAMkAG" + base64.urlsafe_b64encode(secrets.token_bytes(96)).decode("ascii").rstrip("=")


@dataclass
class Attachment:
    id: str
    name: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass
class Draft:
    id: str
    account: str
    raw: bytes = field(repr=False)
    attachments: list[Attachment] = field(default_factory=list)
    created_at: float = field(default_factory=clock.now)

    def size(self) -> int:
        return len(self.raw) + sum(len(a.data) for a in self.attachments) * 4 // 3

    def composed(self) -> bytes:
        """The draft's MIME with its uploaded attachments added (base64 parts)."""
        if not self.attachments:
            return self.raw
        message = BytesParser(policy=email.policy.SMTP).parsebytes(self.raw)
        assert isinstance(message, EmailMessage)
        if message.get_content_type() != "multipart/mixed":
            message.make_mixed()
        for item in self.attachments:
            maintype, _, subtype = item.content_type.partition("/")
            message.add_attachment(
                item.data, maintype=maintype, subtype=subtype or "octet-stream", filename=item.name
            )
        return message.as_bytes(policy=email.policy.SMTP)


@dataclass
class UploadSession:
    id: str
    authtoken: str = field(repr=False)
    account: str = ""
    draft_id: str = ""
    name: str = ""
    size: int = 0
    content_type: str = "application/octet-stream"
    data: bytearray = field(default_factory=bytearray, repr=False)
    expires_at: float = field(default_factory=lambda: clock.now() + UPLOAD_SESSION_SECONDS)
    lock: threading.Lock = field(default_factory=threading.Lock)  # one chunk at a time


@dataclass
class MsSentMessage:
    id: str
    account: str
    via: str  # "sendMail" or "draft"
    raw: bytes = field(repr=False)
    recipients: list[str]
    received_at: str

    def as_json(self, *, include_content: bool = True) -> JsonDict:
        return {
            "id": self.id,
            "account": self.account,
            "via": self.via,
            "received_at": self.received_at,
            "rcpt_tos": list(self.recipients),
            "raw_base64": base64.b64encode(self.raw).decode("ascii") if include_content else None,
            **parsed_message(self.raw, include_content=include_content),
        }


class OutlookMailboxes:
    """Drafts, upload sessions and sent messages of every account."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._drafts: dict[str, Draft] = {}
        self._sessions: dict[str, UploadSession] = {}
        self._sent: list[MsSentMessage] = []

    def add_draft(self, draft: Draft) -> None:
        with self._lock:
            self._drafts[draft.id] = draft

    def draft(self, account: str, draft_id: str) -> Draft | None:
        with self._lock:
            found = self._drafts.get(draft_id)
            return found if found is not None and found.account == account else None

    def attach(self, account: str, draft_id: str, attachment: Attachment) -> Draft | None:
        with self._lock:
            found = self._drafts.get(draft_id)
            if found is None or found.account != account:
                return None
            found.attachments.append(attachment)
            return found

    def take_draft(self, account: str, draft_id: str) -> Draft | None:
        """Remove and return the draft (sending it), so two sends cannot both take it."""
        with self._lock:
            found = self._drafts.get(draft_id)
            if found is None or found.account != account:
                return None
            return self._drafts.pop(draft_id)

    def remove_draft(self, draft_id: str) -> None:
        with self._lock:
            self._drafts.pop(draft_id, None)

    def open_session(self, session: UploadSession) -> None:
        with self._lock:
            self._sessions[session.id] = session

    def session(self, session_id: str, authtoken: str) -> UploadSession | None:
        with self._lock:
            found = self._sessions.get(session_id)
            if found is None or not secrets.compare_digest(found.authtoken, authtoken):
                return None
            return found

    def close_session(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def record(self, message: MsSentMessage) -> None:
        with self._lock:
            self._sent.append(message)

    def sent(self, account: str | None) -> list[MsSentMessage]:
        with self._lock:
            return [m for m in self._sent if account is None or m.account == account.lower()]

    def reset(self) -> None:
        with self._lock:
            self._drafts.clear()
            self._sessions.clear()
            self._sent.clear()
