"""The RabbitMQ nodes to connect to: `RABBITMQ_URL` lists one URL or several (the nodes of a
cluster), and every connection goes to the first node that answers, in the order listed.

pika does the trying: given a list of parameters it tries each node in turn, and the whole
list `connection_attempts` times (the last entry's value), `retry_delay` seconds apart. A
connection that drops is opened again the same way, so a process whose node went away lands
on another one the next time it connects (dramatiq's broker and consumers do that on their own;
the publisher and the dead-letter tools on their next call)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pika

from mailroute.config.rabbitmq_nodes import split_node_urls

Urls = str | Sequence[str]


def node_urls(urls: Urls) -> tuple[str, ...]:
    """The node URLs of a `RABBITMQ_URL` value (comma-separated) or of a list of them."""
    return split_node_urls(urls) if isinstance(urls, str) else tuple(urls)


def with_connection_defaults(url: str, *, attempts: int) -> str:
    """Heartbeats and timeouts in the URL (pika parses them there; kwargs would clash with url)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("heartbeat", "30")
    query.setdefault("blocked_connection_timeout", "30")
    query.setdefault("connection_attempts", str(attempts))
    query.setdefault("retry_delay", "1")
    query.setdefault("socket_timeout", "5")
    return urlunsplit(parts._replace(query=urlencode(query)))


def node_parameters(urls: Urls, *, attempts: int = 1) -> list[pika.URLParameters]:
    """pika parameters for every node, in order, with our heartbeat and timeouts."""
    return [
        pika.URLParameters(with_connection_defaults(url, attempts=attempts))
        for url in node_urls(urls)
    ]


def connect(urls: Urls, *, attempts: int = 1) -> pika.BlockingConnection:
    """A connection to the first node that answers."""
    return pika.BlockingConnection(node_parameters(urls, attempts=attempts))
