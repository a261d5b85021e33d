"""The Gmail connection's objects for the web app, built once from the app's `WebContext` on
first use (the app's lifespan builds the context; this adds nothing to it). The use cases'
`Deps` (retrying failed emails) come from the same lazily built composition as the REST retry
route: `mailroute.web.retry.service_deps`."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.login_links import PostgresLoginLinks
from mailroute.bootstrap import build_gmail_connections
from mailroute.services.connections import GmailConnections
from mailroute.services.deps import Deps
from mailroute.web.context import WebContext, context
from mailroute.web.retry import service_deps

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
_build_lock = threading.Lock()


def time_ago(value: datetime | None, now: datetime | None = None) -> str:
    """'just now', '3 minutes ago', '2 hours ago', '5 days ago'."""
    if value is None:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - value).total_seconds())
    if seconds < 45:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = max(1, round(seconds / size)) if unit == "minute" else seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def timestamp(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


TEMPLATES.env.filters["ago"] = time_ago
TEMPLATES.env.filters["timestamp"] = timestamp


@dataclass
class GmailWeb:
    ctx: WebContext
    service: GmailConnections
    connections: PostgresConnections
    login_links: PostgresLoginLinks

    @property
    def deps(self) -> Deps:
        """The use cases' dependencies (`bootstrap.build_deps` on the app's settings, broker and
        pool), built on first use and shared with `POST /v1/emails/{id}/retry`."""
        return service_deps(self.ctx)


def build_gmail_web(ctx: WebContext) -> GmailWeb:
    service, connections = build_gmail_connections(ctx.settings, ctx.pool, ctx.broker)
    return GmailWeb(ctx, service, connections, PostgresLoginLinks(ctx.pool))


def gmail_web(request: Request) -> GmailWeb:
    """FastAPI dependency: the app's `GmailWeb`, built on first use."""
    state = request.app.state
    found: GmailWeb | None = getattr(state, "gmail_web", None)
    if found is None:
        with _build_lock:
            found = getattr(state, "gmail_web", None)
            if found is None:
                found = build_gmail_web(context(request))
                state.gmail_web = found
    return found
