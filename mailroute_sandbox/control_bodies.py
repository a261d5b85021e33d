"""Request bodies of the /_sandbox/ controls (pydantic models; unknown fields are refused)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mailroute_sandbox.accounts import (
    DEFAULT_DAILY_SENDS,
    DEFAULT_MAX_CONCURRENT,
    DEFAULT_UNITS_PER_MINUTE,
    SEND_COST_UNITS,
)
from mailroute_sandbox.limits import GMAIL_ONLY_KINDS, FaultKind, FaultTarget

Reason = Literal[
    "expired_or_revoked",
    "revoked",
    "password_changed",
    "testing_mode_expired",
    "idle_six_months",
    "token_limit",
    "account_deleted",
    "admin_policy",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SmtpFailNext(_Body):
    count: int = Field(1, ge=1)
    code: int = Field(451, ge=400, le=599)
    message: str = "4.3.0 Temporary failure injected by the sandbox"
    mode: Literal["reply", "disconnect"] = "reply"
    stage: Literal["data", "rcpt"] = "data"


class NewAccount(_Body):
    email: str
    name: str | None = None
    email_verified: bool = True
    id_token_email: str | None = None  # the `email` claim, when it must differ from `email`
    aliases: list[str] = Field(default_factory=list)
    quota_units_per_minute: int = Field(DEFAULT_UNITS_PER_MINUTE, ge=0)
    send_cost_units: int = Field(SEND_COST_UNITS, ge=1)
    daily_send_limit: int = Field(DEFAULT_DAILY_SENDS, ge=0)
    max_concurrent_sends: int = Field(DEFAULT_MAX_CONCURRENT, ge=1)


class AccountLimitsBody(_Body):
    quota_units_per_minute: int | None = Field(None, ge=0)
    send_cost_units: int | None = Field(None, ge=1)
    daily_send_limit: int | None = Field(None, ge=0)
    max_concurrent_sends: int | None = Field(None, ge=1)
    email_verified: bool | None = None
    aliases: list[str] | None = None
    id_token_email: str | None = None


class Invalidate(_Body):
    reason: Reason = "expired_or_revoked"
    refresh_token: str | None = None
    expire_access_tokens: bool = False


class ExpireTokens(_Body):
    account: str | None = None


class SetScopes(_Body):
    scopes: list[str]
    account: str | None = None
    token: str | None = None


class FaultBody(_Body):
    kind: FaultKind
    count: int = Field(1, ge=1)
    target: FaultTarget = "gmail"
    account: str | None = None
    retry_after_seconds: float = Field(1.0, ge=0)
    hang_seconds: float = Field(30.0, ge=0)
    deliver: bool = False
    persistent: bool = False
    message: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _gmail_only_kinds_target_gmail(self) -> FaultBody:
        if self.kind in GMAIL_ONLY_KINDS and self.target != "gmail":
            raise ValueError(f"fault kind {self.kind!r} is a Gmail API answer: target 'gmail'")
        return self


class SettingsBody(_Body):
    access_token_lifetime: int | None = Field(None, ge=1)
    gmail_latency_ms: int | None = Field(None, ge=0)
    token_latency_ms: int | None = Field(None, ge=0)
    testing_mode: bool | None = None
    refresh_token_lifetime_seconds: int | None = Field(None, ge=1)
    json_body_limit: int | None = Field(None, ge=1)


class RedirectUris(_Body):
    uris: list[str] = Field(min_length=1)


class Approve(_Body):
    auth_url: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    account: str = "owner@acme-sandbox.test"
    grant_send: bool = True
    # Scopes Google grants on top of those asked for (a consent that grants more).
    extra_scopes: list[str] = Field(default_factory=list)
    action: Literal["allow", "cancel"] = "allow"
