"""Publishing from Python: `from mailroute.producer import publish`.

    from mailroute.events import EmailRequested
    from mailroute.producer import publish

    accepted = publish(
        EmailRequested(event_id=..., company_id=..., to=[...], subject=..., text=...)
    )
    accepted.email_id   # poll GET /v1/emails/{id}, or bind to the outcome events

`publish` raises `InvalidEventError` (naming each field and rule), `UnknownCompanyRequestError`,
or `BrokerUnavailableError` when RabbitMQ cannot confirm. Settings come from the environment.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from mailroute.events import EmailRequested
from mailroute.services.intake import Accepted, Intake

_lock = threading.Lock()
_intake: Intake | None = None


def default_intake() -> Intake:
    global _intake
    with _lock:
        if _intake is None:
            from mailroute.adapters.db.companies import PostgresCompanies
            from mailroute.adapters.db.pool import make_pool
            from mailroute.adapters.rabbitmq import DramatiqQueues
            from mailroute.config.settings import Settings
            from mailroute.workers.broker import build_broker

            settings = Settings.from_env()
            pool = make_pool(settings, max_size=4)
            pool.open(wait=False)
            _intake = Intake(
                PostgresCompanies(pool),
                DramatiqQueues(build_broker(settings)),
                settings.max_email_bytes,
            )
        return _intake


def publish(event: EmailRequested | Mapping[str, Any]) -> Accepted:
    """Validate and publish one EmailRequested; see the module docstring."""
    return default_intake().publish(event)
