"""Request bodies of the `/_sandbox/microsoft/` controls (pydantic; unknown fields refused)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# the keys of `errors.INVALIDATION`
Reason = Literal["inactive", "expired", "revoked", "consent_missing", "mfa_required"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewMsAccount(_Body):
    email: str
    name: str | None = None
    kind: Literal["work", "personal"] = "work"
    tenant_id: str | None = None
    aliases: list[str] = Field(default_factory=list)
    mail_enabled: bool = True


class MsApprove(_Body):
    """The authorization request's parameters, or `auth_url` (the whole URL) to read them from."""

    auth_url: str | None = None
    client_id: str | None = None
    redirect_uri: str | None = None
    scope: str | None = None
    state: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str = "S256"
    nonce: str | None = None
    client_info: str | None = None
    action: Literal["accept", "cancel"] = "accept"


class MsInvalidate(_Body):
    reason: Reason


class MsLimits(_Body):
    messages_per_minute: int | None = Field(None, ge=0)
    recipients_per_day: int | None = Field(None, ge=0)
    max_concurrent: int | None = Field(None, ge=1)
    max_message_bytes: int | None = Field(None, ge=1)
    mail_enabled: bool | None = None
    aliases: list[str] | None = None


class MsThrottle(_Body):
    account: str
    count: int = Field(1, ge=1)
    status: Literal[429, 503] = 429
    retry_after: int = Field(1, ge=0)
    message: str | None = None


class MsSettingsBody(_Body):
    access_token_lifetime_seconds: int | None = Field(None, ge=1)
    refresh_token_lifetime_seconds: int | None = Field(None, ge=1)
    invalidate_rotated_refresh_tokens: bool | None = None
    graph_latency_ms: int | None = Field(None, ge=0)
    drafts_need_mail_readwrite: bool | None = None
    short_graph_scopes: bool | None = None


class MsExpire(_Body):
    account: str | None = None
