"""This worker process's Cross-Account Protection dependencies, built by `mailroute.bootstrap`
on first use (after fork, never at import)."""

from __future__ import annotations

import threading

from mailroute.bootstrap.risc import risc_handling
from mailroute.config.settings import Settings
from mailroute.services.security_events import SecurityEventHandling

_lock = threading.Lock()
_deps: SecurityEventHandling | None = None


def risc_deps() -> SecurityEventHandling:
    global _deps
    if _deps is None:
        with _lock:
            if _deps is None:
                _deps = risc_handling(Settings.from_env())
    return _deps


def set_risc_deps(value: SecurityEventHandling | None) -> None:
    """For unit tests: run the actor against fakes."""
    global _deps
    _deps = value
