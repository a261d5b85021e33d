"""Is RabbitMQ reachable? For /readyz: one connection to the first node that answers, opened
and closed (one node of a cluster down leaves the app ready)."""

from __future__ import annotations

import pika

from mailroute.adapters.rabbitmq.nodes import Urls, node_parameters


def broker_reachable(urls: Urls) -> str:
    """'ok', or why not."""
    try:
        params = node_parameters(urls)
        for node in params:
            node.socket_timeout = 2
        pika.BlockingConnection(params).close()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return f"unavailable: {type(exc).__name__}"
    return "ok"
