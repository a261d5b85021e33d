"""Is RabbitMQ reachable? For /readyz: one connection, opened and closed."""

from __future__ import annotations

import pika


def broker_reachable(url: str) -> str:
    """'ok', or why not."""
    try:
        params = pika.URLParameters(url)
        params.socket_timeout = 2
        params.connection_attempts = 1
        pika.BlockingConnection(params).close()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return f"unavailable: {type(exc).__name__}"
    return "ok"
