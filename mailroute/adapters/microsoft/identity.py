"""What a Microsoft sign-in must hold before it becomes a connection, as rules without I/O: the
scopes asked for (and what msal adds), the send permission and nothing that reads mail, the
issuer of the ID token, and who signed in (a stable id, and the address mail is sent From).

Scopes. msal reserves `openid`, `profile` and `offline_access` (it adds all three to every
request and refuses them as input), so mailroute passes `email` and Graph's `Mail.Send`. The
authorization request therefore asks `email https://graph.microsoft.com/Mail.Send openid profile
offline_access`: `profile` is more than the contract's `openid email offline_access Mail.Send`,
but without it Microsoft's ID token carries neither `preferred_username` nor `oid` (Microsoft's
ID token claims reference), and it reads nothing of the mailbox. Graph's scope is passed with its
resource prefix because Microsoft answers it so, and msal's token cache matches scopes exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mailroute.adapters.microsoft.errors import MicrosoftGrantRefusedError
from mailroute.core.oauth import sender_address

GRAPH_RESOURCE = "https://graph.microsoft.com/"
MAIL_SEND = GRAPH_RESOURCE + "Mail.Send"
# What mailroute passes to msal; msal adds openid, profile and offline_access itself.
REQUESTED_SCOPES: tuple[str, ...] = ("email", MAIL_SEND)
MSAL_RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})
# Everything a grant of REQUESTED_SCOPES may hold, compared without the resource prefix and case
# (Microsoft's scopes are case-insensitive). User.Read is not asked for, but Microsoft adds it
# to Graph tokens when the app registration lists it (the portal's default); it reads the
# signed-in user's profile, not mail.
GRANTABLE = frozenset({"openid", "profile", "email", "offline_access", "mail.send", "user.read"})
# Scopes that read (or could read) the mailbox's mail: a grant holding any is refused.
_READS_MAIL = re.compile(
    r"^(mail\.(read|readwrite|readbasic)(\..*)?|(imap|pop|ews|eas)\.accessasuser\.all"
    r"|full_access_as_user|mailboxitem\..*|exchange\.manageasapp)$"
)
# Microsoft's tenant of personal accounts (outlook.com, hotmail.com).
CONSUMERS_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"


def scope_name(scope: str) -> str:
    """`https://graph.microsoft.com/Mail.Send` -> `mail.send`: the resource prefix (Graph's,
    Outlook's, or a resource's app id) dropped, lower-cased. Microsoft answers Graph's scopes
    with and without the prefix; scope names themselves hold no `/`."""
    return scope.strip().rsplit("/", 1)[-1].lower()


def has_mail_send(scopes: Iterable[str]) -> bool:
    return any(scope_name(scope) == "mail.send" for scope in scopes)


def mail_reading_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The granted scopes that read mail; a least-privilege grant holds none."""
    return tuple(scope for scope in scopes if _READS_MAIL.match(scope_name(scope)))


def unexpected_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Granted scopes beyond what a sign-in may hold (reported, not refused unless they read
    mail: Microsoft adds scopes an administrator consented to for the whole tenant)."""
    return tuple(scope for scope in scopes if scope_name(scope) not in GRANTABLE)


def expected_issuer(issuer_template: str, tenant_id: str) -> str:
    """The discovery document's `issuer` with its `{tenantid}` template filled: a token of the
    multi-tenant `common` authority names the tenant the user signed in to."""
    return issuer_template.replace("{tenantid}", tenant_id)


@dataclass(frozen=True)
class MicrosoftIdentity:
    """Who signed in. `subject` is `<oid>.<tid>`: the account's object id in the tenant it
    signed in to (the same for every app, and immutable), so a re-authorization by another
    account is recognised; `email` is the address mail is sent From."""

    subject: str
    email: str
    tenant_id: str
    object_id: str
    name: str | None = None

    @property
    def personal(self) -> bool:
        """A personal Microsoft account (outlook.com, hotmail.com), not a work or school one."""
        return self.tenant_id == CONSUMERS_TENANT_ID


class IdentityRefusal(ValueError):  # noqa: N818 - a reason, raised and turned into our error
    """The ID token's claims do not name an account mailroute can send from."""


def identity_from_claims(claims: Mapping[str, Any]) -> MicrosoftIdentity:
    """The identity of verified ID token claims. The address is `email` when Microsoft sends
    it (the `email` scope; for work accounts the mailbox's primary address), else
    `preferred_username` when that is an address (for work accounts the UPN, which may differ
    from the mailbox address: Graph then refuses other From addresses with ErrorSendAsDenied).
    Raises `IdentityRefusal` without a usable address or a stable id."""
    oid, tid = claims.get("oid"), claims.get("tid")
    if not isinstance(oid, str) or not oid or not isinstance(tid, str) or not tid:
        raise IdentityRefusal("the ID token carries no account id (oid, tid)")
    address = None
    for claim in ("email", "preferred_username"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            address = sender_address(value)
            if address is not None:
                break
    if address is None:
        raise IdentityRefusal(
            "the ID token carries no email address mailroute can send from (neither `email`"
            " nor `preferred_username` is a plain address)"
        )
    name = claims.get("name")
    return MicrosoftIdentity(
        subject=f"{oid}.{tid}",
        email=address,
        tenant_id=tid,
        object_id=oid,
        name=name if isinstance(name, str) and name else None,
    )


def check_granted(granted: tuple[str, ...]) -> None:
    """Raise MicrosoftGrantRefusedError unless the grant sends mail and reads none."""
    if not has_mail_send(granted):
        raise MicrosoftGrantRefusedError(
            "Microsoft 365 was not connected: the permission to send email (Mail.Send) was not"
            " granted. Sign in again and accept it, or ask the Microsoft 365 administrator to"
            " allow mailroute to send email.",
            code="scope_missing",
        )
    reading = mail_reading_scopes(granted)
    if reading:
        raise MicrosoftGrantRefusedError(
            "Microsoft 365 was not connected: Microsoft granted mailroute permissions that read"
            f" mail ({', '.join(reading)}). mailroute only sends email; ask the Microsoft 365"
            " administrator to remove those permissions from mailroute's consent, then sign in"
            " again.",
            code="scope_excess",
        )
