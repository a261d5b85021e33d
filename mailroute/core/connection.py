"""A mailbox connection's states, why a connection breaks, and those reasons in plain words,
for each provider (the same reason reads differently at Google and at Microsoft).

    disconnected --connect--> active --break--> not_connected --re-authorize--> active
         ^                      |                    |
         +-------revoke---------+--------revoke------+

`connect` and `re-authorize` raise `generation`, so a later break is a new incident and notifies
again. `break` is one conditional UPDATE (active -> not_connected): one caller wins and publishes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

ConnectionState = Literal["disconnected", "active", "not_connected"]


class BrokenReason(StrEnum):
    REVOKED = "revoked"  # the user removed the app's access in their Google account
    EXPIRED = "expired"  # unused for six months, or Google's invalid_grant without more detail
    TESTING_MODE = "testing_mode"  # the OAuth app is in Testing: refresh tokens live 7 days
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason, not a password
    ACCOUNT_DELETED = "account_deleted"
    ADMIN_POLICY = "admin_policy"  # a Workspace admin restricted the app
    SCOPE_REMOVED = "scope_removed"  # the send permission is no longer granted
    UNAUTHORIZED = "unauthorized"  # Gmail kept answering 401 after a fresh token
    # Not the provider: the stored token cannot be decrypted with any key in
    # TOKEN_ENCRYPTION_KEYS (a key was removed before `mailroute tokens reencrypt` ran).
    TOKEN_UNREADABLE = "token_unreadable"  # noqa: S105 - a reason, not a token
    # Microsoft's identity platform (AADSTS codes, `adapters.microsoft.errors`).
    INACTIVE = "inactive"  # unused for 90 days
    CONSENT_MISSING = "consent_missing"
    MFA_REQUIRED = "mfa_required"
    CONDITIONAL_ACCESS = "conditional_access"
    ACCOUNT_DISABLED = "account_disabled"
    # Google's Cross-Account Protection events (`core.risc`).
    SESSIONS_REVOKED = "sessions_revoked"
    ACCOUNT_HIJACKED = "account_hijacked"
    CREDENTIAL_CHANGE_REQUIRED = "credential_change_required"


_EXPLANATIONS: dict[BrokenReason, str] = {
    BrokenReason.REVOKED: (
        "access was revoked in the Google account (Security > Third-party access)"
    ),
    BrokenReason.EXPIRED: (
        "Google expired the authorization (it was revoked, or unused for six months)"
    ),
    BrokenReason.TESTING_MODE: (
        "the Google OAuth app is in Testing mode, where authorizations expire after 7 days"
    ),
    BrokenReason.PASSWORD_CHANGED: (
        "the Google account's password was changed, which ends Gmail authorizations"
    ),
    BrokenReason.ACCOUNT_DELETED: "the Google account was deleted",
    BrokenReason.ADMIN_POLICY: "a Google Workspace administrator restricted this app",
    BrokenReason.SCOPE_REMOVED: "the permission to send email was removed from the authorization",
    BrokenReason.UNAUTHORIZED: "Gmail refused the authorization even after a fresh token",
    BrokenReason.TOKEN_UNREADABLE: (
        "mailroute can no longer read the stored Google authorization: the key it was"
        " encrypted with was removed from mailroute's configuration"
    ),
    BrokenReason.SESSIONS_REVOKED: (
        "Google signed the Google account out of all its sessions, which ended the authorization"
    ),
    BrokenReason.ACCOUNT_DISABLED: "Google disabled the Google account",
    BrokenReason.ACCOUNT_HIJACKED: (
        "Google disabled the Google account because it may have been taken over"
    ),
    BrokenReason.CREDENTIAL_CHANGE_REQUIRED: (
        "Google requires the Google account's password to be changed (it saw signs the"
        " account may be at risk)"
    ),
}


_MICROSOFT_EXPLANATIONS: dict[BrokenReason, str] = {
    BrokenReason.INACTIVE: (
        "the Microsoft authorization went unused for 90 days, so Microsoft expired it"
    ),
    BrokenReason.EXPIRED: "Microsoft expired the authorization",
    BrokenReason.REVOKED: (
        "the Microsoft authorization was revoked: the user or a Microsoft 365 administrator"
        " signed the account out of all sessions or revoked its access"
    ),
    BrokenReason.CONSENT_MISSING: (
        "the permission to send email was withdrawn: the user or a Microsoft 365 administrator"
        " removed mailroute's consent"
    ),
    BrokenReason.MFA_REQUIRED: (
        "the organisation now requires multi-factor authentication (a Conditional Access or"
        " per-user policy), which needs a fresh sign-in"
    ),
    BrokenReason.CONDITIONAL_ACCESS: (
        "a Conditional Access policy of the organisation (sign-in frequency, device or"
        " location rules) ended the authorization"
    ),
    BrokenReason.PASSWORD_CHANGED: "the Microsoft account's password expired or was changed",
    BrokenReason.ACCOUNT_DISABLED: "the Microsoft account was disabled by an administrator",
    BrokenReason.ACCOUNT_DELETED: "the Microsoft account no longer exists in its organisation",
    BrokenReason.UNAUTHORIZED: (
        "Microsoft Graph refused the authorization even after a fresh token"
    ),
    BrokenReason.TOKEN_UNREADABLE: (
        "mailroute can no longer read the stored Microsoft authorization: the key it was"
        " encrypted with was removed from mailroute's configuration"
    ),
}
_BY_PROVIDER: dict[str, tuple[dict[BrokenReason, str], str]] = {
    "gmail": (_EXPLANATIONS, "Google no longer accepts the authorization"),
    "microsoft": (_MICROSOFT_EXPLANATIONS, "Microsoft no longer accepts the authorization"),
}


def explain(reason: str | None, provider: str = "gmail") -> str:
    """The reason a connection broke, in words an admin understands, as its provider means
    it."""
    explanations, otherwise = _BY_PROVIDER[provider]
    try:
        return explanations.get(BrokenReason(reason or ""), otherwise)
    except ValueError:
        return otherwise


def reason_from_invalid_grant(description: str) -> BrokenReason:
    """Map Google's `invalid_grant` error_description to a reason (research §3, §7)."""
    text = description.lower()
    if "deleted" in text:
        return BrokenReason.ACCOUNT_DELETED
    if "password" in text:
        return BrokenReason.PASSWORD_CHANGED
    if "admin" in text or "policy" in text:
        return BrokenReason.ADMIN_POLICY
    if "testing" in text or "7 days" in text:
        return BrokenReason.TESTING_MODE
    if "revoked" in text:
        return BrokenReason.REVOKED
    return BrokenReason.EXPIRED
