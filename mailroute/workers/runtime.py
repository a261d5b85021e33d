"""The worker process's dependencies, built on first use (after fork, never at import)."""

from __future__ import annotations

import threading

import dramatiq

from mailroute.config.settings import Settings
from mailroute.services.deps import Deps

_lock = threading.Lock()
_deps: Deps | None = None


def deps() -> Deps:
    global _deps
    if _deps is None:
        with _lock:
            if _deps is None:
                from mailroute.bootstrap import build_deps

                _deps = build_deps(
                    Settings.from_env(), dramatiq.get_broker(), relay_in_background=True
                )
    return _deps


def set_deps(value: Deps | None) -> None:
    """For tests: run the actors against fakes."""
    global _deps
    _deps = value
