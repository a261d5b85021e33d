"""OAuth scope names as Google treats them: aliases normalised, which scopes allow a send."""

from __future__ import annotations

from collections.abc import Iterable

GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
USERINFO_PROFILE = "https://www.googleapis.com/auth/userinfo.profile"

# Any one of these lets a token call users.messages.send (discovery document).
SEND_SCOPES = frozenset(
    {
        "https://mail.google.com/",
        "https://www.googleapis.com/auth/gmail.addons.current.action.compose",
        "https://www.googleapis.com/auth/gmail.compose",
        "https://www.googleapis.com/auth/gmail.modify",
        GMAIL_SEND,
    }
)
_ALIASES = {"email": USERINFO_EMAIL, "profile": USERINFO_PROFILE}
IDENTITY_SCOPES = frozenset({"openid", USERINFO_EMAIL, USERINFO_PROFILE})


def normalise(scopes: Iterable[str]) -> tuple[str, ...]:
    """Google's spelling of each scope (`email` → userinfo.email), order kept, no duplicates."""
    found: list[str] = []
    for scope in scopes:
        name = _ALIASES.get(scope, scope)
        if name and name not in found:
            found.append(name)
    return tuple(found)


def scope_text(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


def can_send(scopes: Iterable[str]) -> bool:
    return any(scope in SEND_SCOPES for scope in scopes)


def wants_identity(scopes: Iterable[str]) -> bool:
    return any(scope in IDENTITY_SCOPES for scope in scopes)
