"""Host names to addresses, through the system's resolver (`getaddrinfo`), for the webhook
target check: every address a host resolves to, so that every one can be judged."""

from __future__ import annotations

import socket

from mailroute.core.webhook_ports import HostUnresolvedError


class SystemResolver:
    def resolve(self, host: str, port: int) -> list[str]:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise HostUnresolvedError(f"{host} does not resolve: {exc}") from exc
        addresses = [str(info[4][0]) for info in found]
        if not addresses:
            raise HostUnresolvedError(f"{host} resolves to no address")
        return list(dict.fromkeys(addresses))
