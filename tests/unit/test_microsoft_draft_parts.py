"""A message too large for one Graph request is split into a draft and the attachments that go
apart; the draft keeps the headers, the Message-ID among them."""

from __future__ import annotations

import base64
import email
import os
from email.message import EmailMessage
from email.policy import compat32

from mailroute.adapters.microsoft.draft_parts import (
    REQUEST_LIMIT,
    UPLOAD_SESSION_MIN,
    encoded_size,
    file_attachment,
    message_id,
    split_for_draft,
    upload_item,
)

MiB = 1024 * 1024
MESSAGE_ID = "<email-0193.f00d@mailroute.example>"


def message(*attachments: tuple[str, bytes], inline_image: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ada <ada@contoso.com>"
    msg["To"] = "bo@fabrikam.com"
    msg["Subject"] = "Invoice 42"
    msg["Message-ID"] = MESSAGE_ID
    msg.set_content("Please find the invoice attached.")
    if inline_image is not None:
        msg.add_alternative("<p>Invoice <img src='cid:logo@x'></p>", subtype="html")
        html = msg.get_payload()[1]  # type: ignore[index]
        html.add_related(  # type: ignore[union-attr]
            inline_image, "image", "png", cid="<logo@x>", filename="logo.png"
        )
    for name, content in attachments:
        msg.add_attachment(content, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def test_a_message_within_one_request_needs_no_split() -> None:
    small = message(("a.pdf", os.urandom(100_000)))
    assert encoded_size(small) == len(base64.b64encode(small))
    assert encoded_size(small) < REQUEST_LIMIT


def test_attachments_of_three_megabytes_or_more_go_by_upload_session() -> None:
    big, medium, small = os.urandom(20 * MiB), os.urandom(UPLOAD_SESSION_MIN), os.urandom(50_000)
    parts = split_for_draft(message(("big.pdf", big), ("medium.pdf", medium), ("s.pdf", small)))
    assert [a.filename for a in parts.attachments] == ["big.pdf", "medium.pdf"]
    assert [a.content for a in parts.attachments] == [big, medium]
    assert all(a.by_upload_session for a in parts.attachments)
    assert encoded_size(parts.draft_mime) <= REQUEST_LIMIT
    draft = email.message_from_bytes(parts.draft_mime, policy=compat32)
    assert draft["Message-ID"] == MESSAGE_ID
    assert draft["Subject"] == "Invoice 42"
    names = [part.get_filename() for part in draft.walk() if part.get_filename()]
    assert names == ["s.pdf"]
    assert parts.message_id == MESSAGE_ID


def test_small_attachments_leave_the_draft_largest_first_until_it_fits() -> None:
    attachments = [(f"{n}.pdf", os.urandom(2 * MiB)) for n in range(4)]
    parts = split_for_draft(message(*attachments))
    assert encoded_size(parts.draft_mime) <= REQUEST_LIMIT
    assert parts.attachments
    assert not any(a.by_upload_session for a in parts.attachments)
    body = file_attachment(parts.attachments[0])
    assert body["@odata.type"] == "#microsoft.graph.fileAttachment"
    assert base64.b64decode(str(body["contentBytes"])) == parts.attachments[0].content


def test_an_inline_image_keeps_its_content_id() -> None:
    image = os.urandom(4 * MiB)
    parts = split_for_draft(message(inline_image=image))
    (logo,) = parts.attachments
    assert logo.content == image
    assert logo.inline
    assert logo.content_id == "logo@x"
    item = upload_item(logo)["AttachmentItem"]
    assert isinstance(item, dict)
    assert item == {
        "attachmentType": "file",
        "name": "logo.png",
        "size": len(image),
        "contentType": "image/png",
        "isInline": True,
        "contentId": "logo@x",
    }


def test_the_message_id_is_read_from_the_headers() -> None:
    assert message_id(message()) == MESSAGE_ID
    assert message_id(b"Subject: none\r\n\r\nbody") is None


def test_no_attachment_content_reaches_a_repr() -> None:
    parts = split_for_draft(message(("big.pdf", b"SECRET" * MiB)))
    assert "SECRET" not in repr(parts)
