"""The SMTP sink: a real SMTP server whose messages are read back over HTTP."""

from __future__ import annotations

import hashlib
import smtplib
from typing import Any

import pytest
from sandbox_targets import message_bytes

from mailroute_sandbox.client import SandboxClient
from mailroute_sandbox.server import SandboxServer


def smtp_bytes(*args: Any, **kwargs: Any) -> bytes:
    return message_bytes(*args, crlf=True, **kwargs)


def _smtp(server: SandboxServer) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10)


def test_a_message_sent_with_smtplib_can_be_read_back_parsed(
    sandbox: SandboxClient, sandbox_server: SandboxServer
) -> None:
    pdf = b"%PDF-1.4 invoice" * 100
    raw = smtp_bytes(
        "Customer <customer@example.test>",
        sender="Acme <billing@acme.test>",
        attachment=pdf,
        extra_headers={"Reply-To": "acme@acme.test", "Cc": "boss@example.test"},
    )
    with _smtp(sandbox_server) as client:
        client.sendmail(
            "bounce@acme.test", ["customer@example.test", "boss@example.test", "bcc@x.test"], raw
        )

    [message] = sandbox.smtp_messages()
    assert message["mail_from"] == "bounce@acme.test"
    assert message["rcpt_tos"] == ["customer@example.test", "boss@example.test", "bcc@x.test"]
    assert message["from"] == "Acme <billing@acme.test>"
    assert message["to"] == ["customer@example.test"]
    assert message["cc"] == ["boss@example.test"]
    assert message["reply_to"] == "acme@acme.test"
    assert message["subject"] == "Invoice 42"
    assert message["text"].strip() == "Please find your invoice attached."
    assert message["headers"]["Subject"] == "Invoice 42"
    [attachment] = message["attachments"]
    assert attachment["filename"] == "invoice.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert attachment["size"] == len(pdf)
    assert attachment["sha256"] == hashlib.sha256(pdf).hexdigest()


def test_messages_can_be_filtered_by_recipient_and_cleared(
    sandbox: SandboxClient, sandbox_server: SandboxServer
) -> None:
    with _smtp(sandbox_server) as client:
        client.sendmail("a@acme.test", ["one@example.test"], smtp_bytes("one@example.test"))
        client.sendmail("a@acme.test", ["two@example.test"], smtp_bytes("two@example.test"))

    assert [m["to"] for m in sandbox.smtp_messages(rcpt="TWO@example.test")] == [
        ["two@example.test"]
    ]
    assert len(sandbox.smtp_messages()) == 2
    sandbox.clear_smtp()
    assert sandbox.smtp_messages() == []


def test_fail_next_refuses_with_a_temporary_code_then_accepts(
    sandbox: SandboxClient, sandbox_server: SandboxServer
) -> None:
    sandbox.smtp_fail_next(count=1, code=451, message="4.3.0 Try again later")
    raw = smtp_bytes()

    with _smtp(sandbox_server) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("a@acme.test", ["customer@example.test"], raw)
        client.sendmail("a@acme.test", ["customer@example.test"], raw)

    assert refused.value.smtp_code == 451
    assert b"Try again later" in refused.value.smtp_error
    assert len(sandbox.smtp_messages()) == 1


def test_fail_next_with_a_5xx_code_is_a_permanent_refusal(
    sandbox: SandboxClient, sandbox_server: SandboxServer
) -> None:
    sandbox.smtp_fail_next(count=2, code=550, message="5.1.1 Mailbox unavailable")

    with _smtp(sandbox_server) as client:
        for _ in range(2):
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail("a@acme.test", ["customer@example.test"], smtp_bytes())
            assert refused.value.smtp_code == 550

    assert sandbox.smtp_messages() == []


def test_fail_next_at_rcpt_refuses_every_recipient_of_the_transaction(
    sandbox: SandboxClient, sandbox_server: SandboxServer
) -> None:
    sandbox.smtp_fail_next(count=1, code=450, message="4.2.1 Mailbox busy", stage="rcpt")

    with _smtp(sandbox_server) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail("a@acme.test", ["x@example.test", "y@example.test"], smtp_bytes())
        client.sendmail("a@acme.test", ["x@example.test"], smtp_bytes())

    assert {code for code, _ in refused.value.recipients.values()} == {450}
    assert len(sandbox.smtp_messages()) == 1


def test_fail_next_in_disconnect_mode_drops_the_connection(
    sandbox: SandboxClient, sandbox_server: SandboxServer
) -> None:
    sandbox.smtp_fail_next(count=1, mode="disconnect")

    with pytest.raises(smtplib.SMTPServerDisconnected):  # noqa: PT012 - the drop ends the session
        client = _smtp(sandbox_server)
        client.sendmail("a@acme.test", ["customer@example.test"], smtp_bytes())
    client.close()

    with _smtp(sandbox_server) as again:
        again.sendmail("a@acme.test", ["customer@example.test"], smtp_bytes())
    assert len(sandbox.smtp_messages()) == 1


def test_reading_without_content_leaves_out_the_attachment_bytes(
    sandbox: SandboxClient, sandbox_server: SandboxServer
) -> None:
    with _smtp(sandbox_server) as client:
        client.sendmail("a@acme.test", ["c@example.test"], smtp_bytes(attachment=b"x" * 10))

    [message] = sandbox.smtp_messages(content=False)
    assert "content_base64" not in message["attachments"][0]
    assert sandbox.smtp_messages()[0]["attachments"][0]["content_base64"] == "eHh4eHh4eHh4eA=="


def test_a_sink_told_to_keep_few_messages_holds_the_newest_and_counts_them_all() -> None:
    with (
        SandboxServer(http_port=0, smtp_port=0, smtp_keep=2) as server,
        SandboxClient(server.base_url) as sandbox,
        _smtp(server) as client,
    ):
        for n in range(5):
            client.sendmail("a@acme.test", [f"n{n}@example.test"], smtp_bytes(f"n{n}@example.test"))

        kept = [m["rcpt_tos"] for m in sandbox.smtp_messages(content=False)]
        assert kept == [["n3@example.test"], ["n4@example.test"]]
        assert sandbox.counters()["smtp_messages"] == 5
        sandbox.clear_smtp()
        assert sandbox.counters()["smtp_messages"] == 0
