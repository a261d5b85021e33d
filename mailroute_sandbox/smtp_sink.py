"""The SMTP sink: a real SMTP server (aiosmtpd) that keeps every message it accepts in memory.

`SmtpSink` is the store and its fault switch (refuse the next N transactions with a code, or drop
the connection); `SinkHandler` is the aiosmtpd handler that feeds it; `SinkController` runs
aiosmtpd on a socket the caller already bound, so port 0 works.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from mailroute_sandbox import clock
from mailroute_sandbox.mime import JsonDict, parsed_message

log = structlog.get_logger(__name__)

FaultMode = Literal["reply", "disconnect"]
FaultStage = Literal["data", "rcpt"]
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_REFUSED_MARK = "_sandbox_refusal"


@dataclass
class SmtpFault:
    """Refuse the next `remaining` transactions at `stage` with `code message`, or disconnect."""

    remaining: int
    code: int
    message: str
    mode: FaultMode = "reply"
    stage: FaultStage = "data"

    def reply(self) -> str:
        return f"{self.code} {self.message}"


@dataclass
class StoredMessage:
    id: str
    received_at: str
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    _parsed: JsonDict | None = field(default=None, repr=False)

    def as_json(self, *, include_content: bool = True) -> JsonDict:
        if include_content and self._parsed is None:
            self._parsed = parsed_message(self.raw)
        parsed = (
            self._parsed if include_content else parsed_message(self.raw, include_content=False)
        )
        assert parsed is not None
        return {
            "id": self.id,
            "received_at": self.received_at,
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            **parsed,
        }


class SmtpSink:
    """Thread-safe store of accepted messages plus the pending injected failures.

    `keep` bounds the messages held (the newest; `SANDBOX_SMTP_KEEP`), for long runs such as
    the soak; `count` is every message accepted since the last clear, kept or not."""

    def __init__(self, keep: int | None = None) -> None:
        self._lock = threading.Lock()
        self._messages: deque[StoredMessage] = deque(maxlen=keep)
        self._accepted = 0
        self._faults: deque[SmtpFault] = deque()
        self._ids = itertools.count(1)

    def record(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> StoredMessage:
        with self._lock:
            stored = StoredMessage(
                id=f"smtp-{next(self._ids)}",
                received_at=clock.rfc3339(clock.now()),
                mail_from=mail_from,
                rcpt_tos=list(rcpt_tos),
                raw=raw,
            )
            self._messages.append(stored)
            self._accepted += 1
        return stored

    def messages(self, rcpt: str | None = None, *, include_content: bool = True) -> list[JsonDict]:
        with self._lock:
            stored = list(self._messages)
        wanted = rcpt.lower() if rcpt else None
        return [
            message.as_json(include_content=include_content)
            for message in stored
            if wanted is None or wanted in (r.lower() for r in message.rcpt_tos)
        ]

    def count(self) -> int:
        with self._lock:
            return self._accepted

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._accepted = 0

    def fail_next(self, fault: SmtpFault) -> None:
        with self._lock:
            self._faults.append(fault)

    def pending_faults(self) -> int:
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def take_fault(self, stage: FaultStage) -> SmtpFault | None:
        """Consume one transaction's worth of the oldest fault for `stage`, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.stage == stage and fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
            self._accepted = 0
            self._faults.clear()


class SinkHandler:
    """aiosmtpd hooks: store at DATA, unless an injected fault says to refuse."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, _options: Any
    ) -> str:
        refusal = getattr(envelope, _REFUSED_MARK, None)
        if refusal is None and not envelope.rcpt_tos:
            refusal = self.sink.take_fault("rcpt")
            if refusal is not None:
                setattr(envelope, _REFUSED_MARK, refusal)
        if isinstance(refusal, SmtpFault):
            return self._refuse(server, refusal)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        fault = self.sink.take_fault("data")
        if fault is not None:
            return self._refuse(server, fault)
        raw = envelope.original_content
        content = raw if isinstance(raw, bytes) else b""
        stored = self.sink.record(str(envelope.mail_from or ""), list(envelope.rcpt_tos), content)
        log.info("sandbox.smtp.received", message=stored.id, recipients=len(stored.rcpt_tos))
        return "250 OK: queued as " + stored.id

    def _refuse(self, server: SMTP, fault: SmtpFault) -> str:
        log.info("sandbox.smtp.fault_injected", code=fault.code, mode=fault.mode)
        transport = server.transport
        if fault.mode == "disconnect" and isinstance(transport, asyncio.Transport):
            transport.abort()
            return "421 4.4.2 Connection dropped by the sandbox"
        return fault.reply()


def _accept_any_login(*_args: Any, **_kwargs: Any) -> AuthResult:
    return AuthResult(success=True)


class SinkController(Controller):
    """aiosmtpd's threaded controller, serving on a socket bound beforehand (port 0 works)."""

    def __init__(self, handler: SinkHandler, sock: socket.socket) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(
            handler,
            hostname=host,
            port=port,
            ready_timeout=10.0,
            server_hostname="sandbox.smtp.local",
            data_size_limit=MAX_MESSAGE_BYTES,
            authenticator=_accept_any_login,
            auth_require_tls=False,
        )
        self._sock = sock

    def _create_server(self) -> Any:
        loop: asyncio.AbstractEventLoop = self.loop
        return loop.create_server(self._factory_invoker, sock=self._sock)
