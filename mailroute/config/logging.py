"""structlog setup: JSON lines in production, console on a TTY; stdlib loggers routed through it.

Never log a token, a code, a verifier, a key or an email body, at any level. Three defences, the
first at the call sites (they pass no secrets), then here:

1. Libraries that print secrets (or whole requests) below some level are pinned at that level
   whatever LOG_LEVEL says (`LIBRARY_FLOORS`), never lower than LOG_LEVEL.
2. `redact` blanks the fields of a structured event whose names mark a secret or a body.
3. Every rendered line, ours and the libraries', is scrubbed (`scrub`) of anything shaped like
   a Google token, code or ID token, of bearer and basic credentials, of secret-named values in
   query strings, forms, JSON and reprs, and of this process's configured secrets
   (`Settings.secret_values()`), exception tracebacks included.

Either of 1 and 3 alone keeps a connect, send, refresh, switch and revoke at LOG_LEVEL=DEBUG
free of every secret the sandbox issued (tests/integration/gmail_connection/test_token_secrecy.py).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "password",
        "secret",
        "client_secret",
        "authorization",
        "api_key",
        "body",
        "text",
        "html",
        "raw",
        "code_verifier",
    }
)
REDACTED = "[redacted]"

# What each library prints below its floor: requests_oauthlib's tokens, code and verifier were
# seen in a connect at LOG_LEVEL=DEBUG; the others' lines were read in their source.
LIBRARY_FLOORS: dict[str, int] = {
    # DEBUG: the code exchange's form body (authorization code, PKCE verifier), its headers
    # (Basic client credentials) and the token response (access, refresh and ID tokens).
    "requests_oauthlib": logging.WARNING,
    # DEBUG: collected request parameters (mostly its provider side: pinned all the same).
    "oauthlib": logging.WARNING,
    # google-auth: DEBUG logs each token request and response ("Making request...", with the
    # request in the record's extras); its INFO lines ("Refreshing credentials due to a 401
    # response") are harmless. It silences itself while the "google" logger is unconfigured;
    # configured here, it stays at INFO.
    "google": logging.INFO,
    "google.auth": logging.INFO,
    "google.oauth2": logging.INFO,
    "google_auth_oauthlib": logging.INFO,  # INFO: only the local-server flow's prompt URL
    "google_auth_httplib2": logging.INFO,  # DEBUG: every Gmail request's URL
    # googleapiclient: INFO, when its request dump is on, prints the headers (the bearer
    # token) and the body (the whole raw email); DEBUG prints every URL.
    "googleapiclient": logging.WARNING,
    "httplib2": logging.WARNING,
    "urllib3": logging.WARNING,  # DEBUG: every request line, query string included
    "requests": logging.WARNING,
    "httpx": logging.WARNING,  # INFO: every request URL
    "httpcore": logging.WARNING,  # DEBUG: connection and header events
    # INFO: each request line with its query string (the OAuth callback's code and state, a
    # login link's token), were access logs ever turned on.
    "uvicorn.access": logging.WARNING,
    "multipart": logging.INFO,  # DEBUG: parser states of the settings page's forms
    "python_multipart": logging.INFO,
    "pika": logging.WARNING,  # DEBUG: frames and connection parameters
    "mail.log": logging.WARNING,
}

_SHAPES = (
    r"ya29\.[A-Za-z0-9_\-.]+",  # Google access tokens
    r"1//[A-Za-z0-9_\-]+",  # Google refresh tokens
    r"4(?:/|%2F|%2f)0[A-Za-z0-9_\-]+",  # Google authorization codes, raw or URL-encoded
    r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+",  # JWTs, signed states
    r"mr_[A-Za-z0-9_\-]{16,}",  # mailroute API keys
    r"whsec_[A-Za-z0-9+/]{20,}={0,2}",  # webhook signing secrets
)
_NAMES = (
    "access_token|refresh_token|id_token|code_verifier|client_secret|password|api_key"
    "|token|secret|csrf|assertion"
)
_NAMED = ("token", "secret", "password", "api_key", "csrf", "assertion", "verifier")
# (pattern, lower-case substrings one of which a line must hold for the pattern to run: most
# lines hold none, and are scrubbed by a few substring tests). A pattern's group 1, when it
# has one, is kept (a name, a scheme); the rest is the secret.
_SCRUBBERS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile("|".join(_SHAPES)), ("ya29.", "1//", "4/0", "4%2f0", "eyj", "mr_", "whsec_")),
    (
        re.compile(r"(\b(?:bearer|basic)\s+)[A-Za-z0-9_\-.~+/]+=*", re.IGNORECASE),
        ("bearer", "basic"),
    ),
    # query strings and forms: `code` and `state` only after ? or & (ours elsewhere)
    (
        re.compile(rf"([?&](?:code|state|{_NAMES})=)[^&\s'\"\\]+", re.IGNORECASE),
        ("?code=", "&code=", "?state=", "&state=", *_NAMED),
    ),
    (re.compile(rf"((?<![\w.])(?:{_NAMES})=)[^&\s'\"\\,)]+", re.IGNORECASE), _NAMED),
    # "access_token": "…" / 'access_token': '…', also inside a rendered JSON string
    (
        re.compile(
            rf"(\\?[\"'](?:{_NAMES}|authorization)\\?[\"']\s*:\s*\\?[\"'])[^\"'\\]+",
            re.IGNORECASE,
        ),
        (*_NAMED, "authorization"),
    ),
)


def _blank(match: re.Match[str]) -> str:
    kept = match.group(1) if match.re.groups else None
    return (kept or "") + REDACTED


_TRIGGERS = tuple(dict.fromkeys(t for _pattern, triggers in _SCRUBBERS for t in triggers))


def _holds_any(lowered: str, triggers: tuple[str, ...]) -> bool:
    for trigger in triggers:  # noqa: SIM110 - a loop is twice as fast as any() here
        if trigger in lowered:
            return True
    return False


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every token-shaped or secret-named value, and each of `secrets`, blanked."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    lowered = text.lower()
    if not _holds_any(lowered, _TRIGGERS):
        return text  # most lines: a few substring tests, no regular expression
    for pattern, triggers in _SCRUBBERS:
        if _holds_any(lowered, triggers):
            text = pattern.sub(_blank, text)
    return text


def redact(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Blank any field whose name marks it as a secret or as message content."""
    for key in list(event_dict):
        if key.lower() in _SECRET_KEYS:
            event_dict[key] = REDACTED
    return event_dict


def _scrubbed(renderer: Callable[..., Any], secrets: tuple[str, ...]) -> Callable[..., Any]:
    """The renderer, its output scrubbed: the last step before a line is written."""

    def render(logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> Any:
        line = renderer(logger, name, event_dict)
        return scrub(line, secrets) if isinstance(line, str) else line

    return render


def configure_logging(
    level: str = "INFO", fmt: str = "json", *, secrets: Iterable[str] = ()
) -> None:
    """Configure structlog and the stdlib root logger once per process.

    Our own log lines go straight from structlog to stderr, one write per line (the stdlib
    machinery of handlers and locks cost more than the line itself on a busy worker); dramatiq's,
    pika's and uvicorn's stdlib records are rendered the same way through a formatter. `secrets`
    (the process's configured ones) are blanked wherever they would appear."""
    known = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Any
    if fmt == "console" or (fmt != "json" and sys.stderr.isatty()):
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer()
    renderer = _scrubbed(renderer, known)
    root_level = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(root_level),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name, floor in LIBRARY_FLOORS.items():
        library = logging.getLogger(name)
        library.setLevel(max(floor, root_level))
        library.propagate = True  # google-auth turns its own off when left unconfigured
    logging.getLogger("googleapiclient.discovery_cache").setLevel(logging.WARNING)
    logging.captureWarnings(True)  # warnings are scrubbed like any other line
