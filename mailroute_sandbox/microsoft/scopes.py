"""Microsoft's scope names: Graph permissions spelt with the resource prefix, as the token
endpoint answers them (`Mail.Send` -> `https://graph.microsoft.com/Mail.Send`); the OpenID
scopes stay bare. Comparisons ignore case, as Microsoft's do."""

from __future__ import annotations

from collections.abc import Iterable

from mailroute_sandbox.microsoft import GRAPH_RESOURCE

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
MAIL_SEND = GRAPH_RESOURCE + "Mail.Send"
MAIL_READWRITE = GRAPH_RESOURCE + "Mail.ReadWrite"
DEFAULT = GRAPH_RESOURCE + ".default"
# what the consent page says for each permission it shows
DESCRIPTIONS = {
    "openid": "Sign you in",
    "profile": "View your basic profile",
    "email": "View your email address",
    "offline_access": "Maintain access to data you have given it access to",
    MAIL_SEND.lower(): "Send mail as you",
}


def normalise(scopes: Iterable[str]) -> tuple[str, ...]:
    """Each scope spelt as Microsoft answers it, order kept, no duplicates (ignoring case)."""
    found: list[str] = []
    seen: set[str] = set()
    for scope in scopes:
        if not scope:
            continue
        name = scope if scope in OIDC_SCOPES or "://" in scope else GRAPH_RESOURCE + scope
        if name.lower() not in seen:
            seen.add(name.lower())
            found.append(name)
    return tuple(found)


def resource_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    return tuple(s for s in scopes if s not in OIDC_SCOPES)


def holds(granted: Iterable[str], scope: str) -> bool:
    return scope.lower() in {s.lower() for s in granted}


def describe(scope: str) -> str:
    return DESCRIPTIONS.get(scope.lower(), scope)


def text(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


def answered(scopes: Iterable[str], *, short: bool) -> str:
    """The `scope` of a token response: Graph scopes prefixed, or short when `short`."""
    if not short:
        return text(scopes)
    return text(s[len(GRAPH_RESOURCE) :] if s.startswith(GRAPH_RESOURCE) else s for s in scopes)
