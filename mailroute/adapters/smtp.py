"""The default SMTP sender. One translator maps smtplib's errors into ours:

4xx replies, refused or dropped connections, timeouts  -> ProviderUnavailableError (retried)
5xx replies                                           -> ProviderRejectedError (fails at once,
                                                         with the server's reply in the message)
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import structlog

from mailroute.core.errors import ProviderRejectedError, ProviderUnavailableError
from mailroute.core.ports import Envelope, ProviderReceipt

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str  # "plain" | "ssl" | "starttls"
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        security = {"smtp": "plain", "smtps": "ssl", "smtp+starttls": "starttls"}[parts.scheme]
        default_port = {"plain": 25, "ssl": 465, "starttls": 587}[security]
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or default_port,
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def _reply_text(code: int, reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    return f"{code} {text}".strip()


@contextmanager
def _smtp_errors() -> Iterator[None]:
    try:
        yield
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(
            f"{rcpt}: {_reply_text(code, msg)}" for rcpt, (code, msg) in exc.recipients.items()
        )
        if all(400 <= c < 500 for c in codes):
            raise ProviderUnavailableError(
                f"SMTP server deferred every recipient: {detail}", code="smtp_temporary"
            ) from exc
        raise ProviderRejectedError(
            f"SMTP server refused the recipients: {detail}", code="smtp_rejected"
        ) from exc
    except smtplib.SMTPResponseException as exc:
        reply = _reply_text(exc.smtp_code, exc.smtp_error)
        if 400 <= exc.smtp_code < 500:
            raise ProviderUnavailableError(
                f"SMTP server answered {reply}", code="smtp_temporary"
            ) from exc
        raise ProviderRejectedError(f"SMTP server answered {reply}", code="smtp_rejected") from exc
    except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as exc:
        raise ProviderUnavailableError(
            f"SMTP server closed the connection: {exc}", code="smtp_unavailable"
        ) from exc
    except TimeoutError as exc:
        raise ProviderUnavailableError("SMTP server timed out", code="smtp_timeout") from exc
    except (OSError, ssl.SSLError) as exc:
        raise ProviderUnavailableError(
            f"SMTP server unreachable: {exc}", code="smtp_unavailable"
        ) from exc


class SmtpSender:
    """Sends through the default SMTP server, keeping one connection per thread open between
    messages. A connection idle for longer than `check_idle_after` seconds is checked with a
    NOOP before reuse (servers drop idle clients), so that drop costs a reconnect, never a
    retry; back-to-back messages skip the check and its round trip. A connection the server
    dropped mid-stream fails that one attempt as `smtp_unavailable`, which is retried."""

    def __init__(
        self, server: SmtpServer, *, timeout: float = 20.0, check_idle_after: float = 5.0
    ) -> None:
        self._server = server
        self._timeout = timeout
        self._check_idle_after = check_idle_after
        self._local = threading.local()
        self._hostname: str | None = None

    def _connect(self) -> smtplib.SMTP:
        server = self._server
        if self._hostname is None:
            self._hostname = socket.getfqdn()  # once: smtplib would resolve it per connection
        client: smtplib.SMTP
        if server.security == "ssl":
            client = smtplib.SMTP_SSL(
                server.host,
                server.port,
                timeout=self._timeout,
                local_hostname=self._hostname,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(
                server.host, server.port, timeout=self._timeout, local_hostname=self._hostname
            )
        if server.security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if server.username:
            client.login(server.username, server.password or "")
        return client

    def _client(self) -> smtplib.SMTP:
        client: smtplib.SMTP | None = getattr(self._local, "client", None)
        if client is not None:
            if time.monotonic() - self._local.used_at < self._check_idle_after:
                return client
            try:
                if client.noop()[0] == 250:
                    return client
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()
        client = self._connect()
        self._local.client = client
        return client

    def _drop(self) -> None:
        client: smtplib.SMTP | None = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.close()

    def close(self) -> None:
        """Close the calling thread's connection (QUIT unsent: the server sees a hang-up)."""
        self._drop()

    def send(self, message: bytes, envelope: Envelope) -> ProviderReceipt:
        with _smtp_errors():
            try:
                refused = self._client().sendmail(
                    envelope.mail_from, list(envelope.recipients), message
                )
            except BaseException:
                self._drop()  # after any failure, start the next message on a fresh connection
                raise
            self._local.used_at = time.monotonic()
        if refused:
            log.warning("smtp.some_recipients_refused", refused=sorted(refused))
        return ProviderReceipt()
