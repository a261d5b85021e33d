"""The worker process's dependencies, built on first use (after fork, never at import), or at
boot by `warm_up`."""

from __future__ import annotations

import threading
import time

import dramatiq

from mailroute.adapters.db.pool import Pool, make_pool
from mailroute.config.settings import Settings
from mailroute.services.deps import Deps

_lock = threading.Lock()
_deps: Deps | None = None
_pool: Pool | None = None


def deps() -> Deps:
    global _deps, _pool
    if _deps is None:
        with _lock:
            if _deps is None:
                from mailroute.bootstrap import build_deps

                settings = Settings.from_env()
                # Every connection a worker thread may need, opened up front.
                _pool = make_pool(settings, min_size=settings.db_pool_size)
                _pool.open(wait=False)
                _deps = build_deps(settings, dramatiq.get_broker(), _pool, relay_in_background=True)
    return _deps


def set_deps(value: Deps | None) -> None:
    """For tests: run the actors against fakes."""
    global _deps
    _deps = value


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
