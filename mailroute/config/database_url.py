"""DATABASE_URL's rules: libpq's list of hosts, and a session that takes writes."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit


def database_url_problems(url: str) -> list[str]:
    """DATABASE_URL may list several hosts, tried in order (libpq's `host1:5432,host2:5432`):
    each with an optional numeric port; the session asked for must take writes."""
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    found = []
    for entry in hosts.split(",") if hosts else ():
        bare = ":" not in entry or entry.endswith("]")  # no port, or an IPv6 address alone
        host, port = (entry, "") if bare else entry.rsplit(":", 1)
        if not entry:
            found.append("DATABASE_URL: an empty entry in the list of hosts")
        elif port and not (port.isdigit() and 0 < int(port) < 65536):
            found.append(f"DATABASE_URL: port {port!r} of host {host!r} is not a port number")
    query = dict(parse_qsl(parts.query))
    session = query.get("target_session_attrs", "any")
    if session not in ("any", "read-write", "primary"):
        found.append(
            f"DATABASE_URL: target_session_attrs={session!r}: mailroute writes, use read-write"
        )
    if not query.get("connect_timeout", "5").isdigit():
        found.append("DATABASE_URL: connect_timeout must be a whole number of seconds")
    return found
