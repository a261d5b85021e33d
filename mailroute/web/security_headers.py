"""The headers every answer carries (the outermost middleware, so refusals carry them too):

    Content-Security-Policy   scripts only from this origin (no inline script, no on* handler,
                              no eval), no framing (`frame-ancestors 'none'`), forms only to
                              this origin and to Google's consent page (Sign in with Google
                              posts here and is redirected there)
    X-Frame-Options: DENY, X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer
                              (a login link's token is in its URL)
    Cache-Control: no-store   on everything but /static/ (pages and API answers show account
                              data; a shared cache or the back button must not keep them)
    Strict-Transport-Security when PUBLIC_BASE_URL is https

A route may set its own Content-Security-Policy (the API docs page does); the others are
added where the answer has none.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailroute.config.settings import Settings

STATIC_PREFIX = "/static/"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    """The pages' policy; form-action names the origin of Google's (or the sandbox's) consent
    page, because browsers check the redirect a form submission follows too."""
    consent = _origin(settings.google_endpoint("auth_uri"))
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            f"form-action 'self' {consent}",
            "frame-ancestors 'none'",
        )
    )


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    headers = [
        ("content-security-policy", content_security_policy(settings)),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ]
    if settings.public_base_url.startswith("https://"):
        headers.append(("strict-transport-security", "max-age=31536000"))
    return [(name.encode(), value.encode()) for name, value in headers]


class SecurityHeaders:
    """Pure ASGI: adds the headers to each response start the app (or a refusal) sends."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.headers = security_headers(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(STATIC_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in self.headers if n not in present]
                if not cacheable and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
