"""The default SMTP sender keeps its connection between messages, and a server that dropped an
idle connection costs a reconnect, never a failed attempt."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from mailroute.adapters.smtp import SmtpSender, SmtpServer
from mailroute.core.ports import Envelope
from tests.stack import free_port


class CountingHandler:
    def __init__(self) -> None:
        self.greetings = 0
        self.messages = 0

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.greetings += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages += 1
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[CountingHandler, int]]:
    """An SMTP server that hangs up on a client idle for half a second."""
    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, timeout=0.5)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


MESSAGE = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
ENVELOPE = Envelope(mail_from="a@example.com", recipients=("b@example.com",))


def test_back_to_back_messages_share_one_connection(
    smtp_server: tuple[CountingHandler, int],
) -> None:
    handler, port = smtp_server
    sender = SmtpSender(SmtpServer("127.0.0.1", port, "plain"), timeout=5)

    for _ in range(5):
        sender.send(MESSAGE, ENVELOPE)
    sender.close()

    assert handler.messages == 5
    assert handler.greetings == 1


def test_a_connection_the_server_dropped_while_idle_is_replaced_before_the_next_message(
    smtp_server: tuple[CountingHandler, int],
) -> None:
    handler, port = smtp_server
    sender = SmtpSender(SmtpServer("127.0.0.1", port, "plain"), timeout=5, check_idle_after=0.2)
    sender.send(MESSAGE, ENVELOPE)

    time.sleep(1.0)  # the server hangs up after 0.5 s
    sender.send(MESSAGE, ENVELOPE)
    sender.close()

    assert handler.messages == 2
    assert handler.greetings == 2
