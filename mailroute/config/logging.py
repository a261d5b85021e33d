"""structlog setup: JSON lines in production, console on a TTY; stdlib loggers routed through it.

Never log a token, a password or an email body: the `redact` processor blanks keys that look like
secrets as a last line of defence, but call sites must not pass them in the first place.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "password",
        "secret",
        "client_secret",
        "authorization",
        "api_key",
        "body",
        "text",
        "html",
        "raw",
        "code_verifier",
    }
)


def redact(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Blank any field whose name marks it as a secret or as message content."""
    for key in list(event_dict):
        if key.lower() in _SECRET_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Configure structlog and the stdlib root logger once per process.

    Our own log lines go straight from structlog to stderr, one write per line (the stdlib
    machinery of handlers and locks cost more than the line itself on a busy worker); dramatiq's,
    pika's and uvicorn's stdlib records are rendered the same way through a formatter."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Any
    if fmt == "console" or (fmt != "json" and sys.stderr.isatty()):
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("pika", "httplib2", "googleapiclient.discovery_cache", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
