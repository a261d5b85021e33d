"""What a code exchange's grant must be before it becomes a connection: the send permission and
nothing beyond what mailroute asked for, a verified address that is a plain email address (it
becomes the From of every email), and the connected account unless switching was chosen.

Each refusal is an `AuthorizationRefusedError` with a stable `code`, an HTTP status and a
message written for the admin; nothing is stored when the callback is refused.
"""

from __future__ import annotations

from mailroute.core.oauth import GrantedTokens, excess_scopes, has_send_scope, sender_address
from mailroute.core.records import ConnectionRecord

SEND_BOX = "Send email on your behalf"


class AuthorizationRefusedError(Exception):
    """The callback was refused; nothing was stored. `message` is for the admin."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def excess_scopes_refusal(extra: tuple[str, ...]) -> AuthorizationRefusedError:
    return AuthorizationRefusedError(
        "scope_excess",
        "Gmail was not connected: Google granted mailroute more access than it asks for"
        f" ({', '.join(extra)}). mailroute only sends email, so it refused this authorization"
        f" and asked Google to revoke it. Sign in again and allow only \u201c{SEND_BOX}\u201d.",
    )


def checked_address(
    granted: GrantedTokens, current: ConnectionRecord | None, *, switch_account: bool
) -> str:
    """The address the grant will send From; raises `AuthorizationRefusedError`. (Extra scopes
    are refused first, by the caller, since that refusal also revokes the grant.)"""
    identity = granted.identity
    if not has_send_scope(granted.granted_scopes):
        raise AuthorizationRefusedError(
            "scope_missing",
            f"Gmail was not connected: the box \u201c{SEND_BOX}\u201d was not ticked on"
            " Google's consent screen. Sign in again and tick it: mailroute only sends"
            " email and never reads your inbox.",
        )
    if not identity.email_verified:
        raise AuthorizationRefusedError(
            "email_unverified",
            f"Google has not verified the address {identity.email}, so it cannot be used to"
            " send email. Verify it with Google, or sign in with another account.",
        )
    address = sender_address(identity.email)
    if address is None:
        raise AuthorizationRefusedError(
            "email_invalid",
            f"Google gave {identity.email!r} as this account's address, which is not a plain"
            " email address, so mailroute cannot send email from it. Sign in with another"
            " account.",
        )
    connected = current is not None and current.state != "disconnected"
    if (
        connected
        and current is not None
        and current.google_subject
        and current.google_subject != identity.subject
        and not switch_account
    ):
        raise AuthorizationRefusedError(
            "account_mismatch",
            f"This company's Gmail connection is {current.address}, but you signed in as"
            f" {address}. Sign in as {current.address}, or tick \u201cUse a"
            " different Google account\u201d to switch accounts.",
            status=409,
        )
    return address


__all__ = [
    "SEND_BOX",
    "AuthorizationRefusedError",
    "checked_address",
    "excess_scopes",
    "excess_scopes_refusal",
]
