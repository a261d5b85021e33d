"""This worker process's webhook delivery dependencies, built by `mailroute.bootstrap` on first
use (after fork, never at import)."""

from __future__ import annotations

import threading

from mailroute.bootstrap.webhooks import webhook_delivery
from mailroute.config.settings import Settings
from mailroute.services.webhook_delivery import WebhookDeliveryDeps

_lock = threading.Lock()
_deps: WebhookDeliveryDeps | None = None


def webhook_deps() -> WebhookDeliveryDeps:
    global _deps
    if _deps is None:
        with _lock:
            if _deps is None:
                _deps = webhook_delivery(Settings.from_env())
    return _deps


def set_webhook_deps(value: WebhookDeliveryDeps | None) -> None:
    """For unit tests: run the actors against fakes."""
    global _deps
    _deps = value
