"""A message too large for one Graph request, split into a draft and the attachments that go
apart: no I/O.

Graph takes at most 4 MB per request, and the MIME goes base64-encoded (a third larger). So the
draft is the message without its largest attachments: every attachment of 3 MB or more (Graph
takes those only through an upload session, in chunks), then, while the draft is still too
large, the next largest (posted one by one as a fileAttachment). Headers stay as they were, the
Message-ID among them; the message is parsed and written back with the policy mailroute writes
it with (compat32, CRLF).
"""

from __future__ import annotations

import base64
import email
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message
from email.policy import compat32
from io import BytesIO

_WIRE = compat32.clone(linesep="\r\n")
MiB = 1024 * 1024
# Graph's per-request limit is "4 MB"; the request's JSON or headers need a little room.
REQUEST_LIMIT = 4_000_000
# Graph's documented floor of upload sessions for Outlook attachments ("3 MB to 150 MB").
UPLOAD_SESSION_MIN = 3 * MiB
UPLOAD_SESSION_MAX = 150 * MiB


@dataclass(frozen=True)
class DetachedAttachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str | None = None
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def by_upload_session(self) -> bool:
        return self.size >= UPLOAD_SESSION_MIN

    def __repr__(self) -> str:
        return f"DetachedAttachment({self.filename!r}, {self.content_type!r}, {self.size} bytes)"


@dataclass(frozen=True)
class DraftParts:
    draft_mime: bytes
    attachments: tuple[DetachedAttachment, ...]
    message_id: str | None

    def __repr__(self) -> str:
        return f"DraftParts({len(self.draft_mime)} bytes, attachments={self.attachments!r})"


def encoded_size(raw: bytes) -> int:
    """The size of `raw` base64-encoded, as Graph's MIME endpoints take it."""
    return 4 * ((len(raw) + 2) // 3)


def message_id(mime: bytes) -> str | None:
    head = mime.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    parsed = email.message_from_bytes(head + b"\r\n\r\n", policy=_WIRE)
    value = parsed.get("Message-ID")
    return " ".join(str(value).split()) if value else None


def _write(message: Message) -> bytes:
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, maxheaderlen=0, policy=_WIRE).flatten(message)
    return out.getvalue()


def _is_attachment(part: Message) -> bool:
    if part.is_multipart():
        return False
    disposition = (part.get_content_disposition() or "").lower()
    if disposition == "attachment":
        return True
    # An inline part with a name or Content-ID (an image the HTML shows) is an attachment to
    # Graph; the text and HTML bodies are not.
    return (
        disposition == "inline"
        and part.get_content_maintype() != "text"
        and bool(part.get_filename() or part.get("Content-ID"))
    )


def _children(container: Message) -> list[Message | str]:
    payload = container.get_payload()
    assert isinstance(payload, list)
    return payload


def _parts(message: Message) -> list[tuple[Message, Message]]:
    """(container, part) for each attachment, in the order they appear."""
    found: list[tuple[Message, Message]] = []
    for container in message.walk():
        if container.is_multipart():
            found.extend(
                (container, part)
                for part in _children(container)
                if isinstance(part, Message) and _is_attachment(part)
            )
    return found


def _detached(container: Message, part: Message) -> DetachedAttachment:
    """The attachment as Graph takes it: inline when its disposition says so, or when it is a
    part with a Content-ID that an HTML body in multipart/related refers to."""
    content = part.get_payload(decode=True)
    content_id = part.get("Content-ID")
    related = container.get_content_subtype() == "related" and bool(content_id)
    return DetachedAttachment(
        filename=part.get_filename() or "attachment",
        content_type=part.get_content_type(),
        content=content if isinstance(content, bytes) else b"",
        content_id=str(content_id).strip().strip("<>") if content_id else None,
        inline=related or (part.get_content_disposition() or "").lower() == "inline",
    )


def split_for_draft(mime: bytes, *, limit: int = REQUEST_LIMIT) -> DraftParts:
    """The draft (base64 within `limit` if the attachments allow) and what goes apart."""
    message = email.message_from_bytes(mime, policy=_WIRE)
    parts = _parts(message)
    sizes = {id(part): len(part.get_payload(decode=True) or b"") for _, part in parts}
    by_size = sorted(parts, key=lambda pair: sizes[id(pair[1])], reverse=True)
    detach = [pair for pair in by_size if sizes[id(pair[1])] >= UPLOAD_SESSION_MIN]
    remaining = [pair for pair in by_size if sizes[id(pair[1])] < UPLOAD_SESSION_MIN]

    def without(pairs: list[tuple[Message, Message]]) -> bytes:
        gone = {id(part) for _, part in pairs}
        originals: list[tuple[Message, list[Message | str]]] = []
        for container in {id(c): c for c, _ in pairs}.values():
            payload = _children(container)
            originals.append((container, payload))
            container.set_payload([p for p in payload if id(p) not in gone])
        try:
            return _write(message)
        finally:
            for container, payload in originals:
                container.set_payload(payload)

    draft = without(detach)
    while remaining and encoded_size(draft) > limit:
        detach.append(remaining.pop(0))
        draft = without(detach)
    order = {id(part): index for index, (_, part) in enumerate(parts)}
    detached = sorted(detach, key=lambda pair: order[id(pair[1])])
    return DraftParts(
        draft_mime=draft,
        attachments=tuple(_detached(container, part) for container, part in detached),
        message_id=message_id(mime),
    )


def file_attachment(attachment: DetachedAttachment) -> dict[str, object]:
    """Graph's fileAttachment for `POST /me/messages/{id}/attachments` (under 3 MB)."""
    body: dict[str, object] = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": attachment.filename,
        "contentType": attachment.content_type,
        "contentBytes": base64.b64encode(attachment.content).decode("ascii"),
        "isInline": attachment.inline,
    }
    if attachment.content_id:
        body["contentId"] = attachment.content_id
    return body


def upload_item(attachment: DetachedAttachment) -> dict[str, object]:
    """The `AttachmentItem` of `createUploadSession`."""
    item: dict[str, object] = {
        "attachmentType": "file",
        "name": attachment.filename,
        "size": attachment.size,
        "contentType": attachment.content_type,
        "isInline": attachment.inline,
    }
    if attachment.content_id:
        item["contentId"] = attachment.content_id
    return {"AttachmentItem": item}
