"""RABBITMQ_URL as a list of nodes: one URL, or several of one cluster, comma-separated, in the
order processes try them; and what makes an entry unusable."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit


def split_node_urls(raw: str) -> tuple[str, ...]:
    """The node URLs of a RABBITMQ_URL value: comma-separated, in order (an empty entry is
    kept, for validation to name)."""
    return tuple(part.strip() for part in raw.split(","))


def _masked(url: str) -> str:
    """The URL as a message may show it: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def rabbitmq_problems(raw: str, queue_type: str) -> list[str]:
    """Each RABBITMQ_URL entry an amqp(s) URL with a host, all of one vhost (one cluster);
    RABBITMQ_QUEUE_TYPE one of the two."""
    found: list[str] = []
    urls = split_node_urls(raw)
    vhosts = set()
    for number, url in enumerate(urls, start=1):
        where = f"RABBITMQ_URL: entry {number} of {len(urls)}" if len(urls) > 1 else "RABBITMQ_URL"
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            found.append(f"{where} ({_masked(url)}): the port is not a number")
            continue
        if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
            shown = f" ({_masked(url)})" if url else " is empty"
            found.append(f"{where}{shown}: must be a URL amqp://user:password@host:port/vhost")
            continue
        vhosts.add(unquote(parts.path[1:]) if parts.path not in ("", "/") else "/")
    if len(vhosts) > 1:
        found.append("RABBITMQ_URL: every node URL must name the same vhost (one cluster)")
    if queue_type not in ("quorum", "classic"):
        found.append("RABBITMQ_QUEUE_TYPE: must be quorum or classic")
    return found
