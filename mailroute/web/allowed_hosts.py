"""Only configured hosts are honoured: a request whose `Host` header is not one of
ALLOWED_HOSTS (by default PUBLIC_BASE_URL's host) is refused with 400, naming the `Host`
header and the rule `allowed_host`, before any route runs, so no Host header is reflected
into a redirect or a link (links and OAuth redirects are built from PUBLIC_BASE_URL anyway).

`/healthz` and `/readyz` answer whatever the Host: load balancers and orchestrators probe
them by address, and they say nothing of any account. ALLOWED_HOSTS=* turns the check off.
"""

from __future__ import annotations

import re

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mailroute.config.settings import Settings
from mailroute.events import FieldProblem
from mailroute.web.errors import error_body

PROBES = frozenset({"/healthz", "/readyz"})
_HOST = re.compile(r"(?:\[(?P<ipv6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9.-]+))(?::[0-9]{1,5})?")


def host_name(header: str) -> str:
    """The name of a Host header's value without its port (`[::1]:80` -> `::1`); "" for a
    value that is no host name and port (`a.example:80@b.example`, spaces, a bad port)."""
    found = _HOST.fullmatch(header.strip().lower())
    if found is None:
        return ""
    return found["ipv6"] or found["name"]


def _host_header(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or []:
        if name == b"host":
            return bytes(value).decode("latin-1")
    return None


def refused_host() -> JSONResponse:
    problem = FieldProblem(
        "Host", "allowed_host", "this server answers only for the hosts in ALLOWED_HOSTS"
    )
    return JSONResponse(
        error_body(
            "invalid_host", "the Host header names a host this server does not serve", [problem]
        ),
        status_code=400,
    )


class AllowedHosts:
    """Pure ASGI: 400 for a Host that is not configured (or missing)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.hosts = frozenset(settings.honoured_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "*" in self.hosts or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        header = _host_header(scope)
        if header is None or host_name(header) not in self.hosts:
            await refused_host()(scope, receive, send)
            return
        await self.app(scope, receive, send)
