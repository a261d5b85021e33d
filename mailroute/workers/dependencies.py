"""This worker process's dependencies, built by `mailroute.bootstrap` on first use (after fork,
never at import), or at boot by `warm_up`; and what an actor reads of its current message."""

from __future__ import annotations

import threading
import time

import dramatiq
from dramatiq.middleware import CurrentMessage

from mailroute.adapters.db.pool import Pool
from mailroute.bootstrap import build_worker
from mailroute.config.settings import Settings
from mailroute.services.dependencies import Dependencies

_lock = threading.Lock()
_deps: Dependencies | None = None
_pool: Pool | None = None


def deps() -> Dependencies:
    global _deps, _pool
    if _deps is None:
        with _lock:
            if _deps is None:
                _deps, _pool = build_worker(Settings.from_env(), dramatiq.get_broker())  # type: ignore[arg-type]
    return _deps


def set_deps(value: Dependencies | None) -> None:
    """For unit tests: run the actors against fakes."""
    global _deps
    _deps = value


def current() -> tuple[str, str]:
    """The current message's id and its correlation id (decided by the `LogContext`
    middleware, which writes it to the options; the message id when there is none)."""
    message = CurrentMessage.get_current_message()
    if message is None:
        return "", ""
    return message.message_id, str(message.options.get("correlation_id") or message.message_id)


def warm_up(timeout: float = 10.0) -> None:
    """Build this process's dependencies before its worker threads start: the imports, the
    Gmail discovery document, the database connections and the first validation and MIME
    build are paid for at boot, not by the first emails after a start."""
    from mailroute.core.mime import build_message
    from mailroute.core.model import OutgoingEmail
    from mailroute.events import read_event

    built = deps()
    read_event(
        {
            "type": "EmailRequested",
            "schema_version": 1,
            "event_id": "warm-up",
            "company_id": "00000000-0000-0000-0000-000000000000",
            "kind": "invoice",
            "to": ["warm-up@example.com"],
            "subject": "warm-up",
            "text": "warm-up",
        },
        expected="EmailRequested",
    )
    email = OutgoingEmail("warm-up", "warm-up", "warm-up", "warm-up", ("warm-up@example.com",))
    build_message(email, from_=built.settings.default_from).as_bytes()
    deadline = time.monotonic() + timeout
    while _pool is not None and time.monotonic() < deadline:
        if _pool.get_stats().get("pool_available", 0) >= _pool.min_size:
            break
        time.sleep(0.02)
