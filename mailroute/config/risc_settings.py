"""Cross-Account Protection (RISC) settings: where the receiver reads Google's signing keys, how
old a token may be, how long received tokens are kept, and what the stream configuration calls.

    GOOGLE_RISC_CONFIGURATION_URL   https://accounts.google.com/.well-known/risc-configuration
                                    (the sandbox: <SANDBOX_BASE_URL>/.well-known/risc-configuration)
    GOOGLE_RISC_API_ROOT            https://risc.googleapis.com/ (the sandbox: <SANDBOX_BASE_URL>/)
    GOOGLE_RISC_SERVICE_ACCOUNT_FILE  the JSON key of a service account with
                                    roles/riscconfigs.admin (empty with the sandbox: a
                                    throwaway key)
    RISC_MAX_TOKEN_AGE_SECONDS      86400: older tokens (by `iat`) are refused
    RISC_RETENTION_DAYS             30: received tokens' rows are kept this long, which must
                                    outlast RISC_MAX_TOKEN_AGE_SECONDS so a replay is always seen

Google documents no freshness window, and its delivery retries for a while when the receiver is
down; a day keeps those retries and still refuses a token captured long ago, while the `jti`
table, kept longer than the window, makes any replay inside it harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mailroute.config.settings import Settings

GOOGLE_RISC_CONFIGURATION_URL = "https://accounts.google.com/.well-known/risc-configuration"
GOOGLE_RISC_API_ROOT = "https://risc.googleapis.com/"
RISC_API_AUDIENCE = "https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService"


@dataclass(frozen=True)
class RiscSettings:
    configuration_url: str
    api_root: str
    audience: str  # our OAuth client id: the `aud` of every token Google sends us
    service_account_file: str = ""
    max_token_age_seconds: float = 86400.0
    retention_days: float = 30.0
    uses_sandbox: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], settings: Settings) -> RiscSettings:
        sandbox = settings.uses_sandbox
        base = settings.sandbox_base_url.rstrip("/")
        config = env.get("GOOGLE_RISC_CONFIGURATION_URL", "").strip() or (
            base + "/.well-known/risc-configuration" if sandbox else GOOGLE_RISC_CONFIGURATION_URL
        )
        root = env.get("GOOGLE_RISC_API_ROOT", "").strip() or (
            base + "/" if sandbox else GOOGLE_RISC_API_ROOT
        )
        found = cls(
            configuration_url=config,
            api_root=root if root.endswith("/") else root + "/",
            audience=settings.oauth_client_id,
            service_account_file=env.get("GOOGLE_RISC_SERVICE_ACCOUNT_FILE", "").strip(),
            max_token_age_seconds=_number(env, "RISC_MAX_TOKEN_AGE_SECONDS", 86400.0),
            retention_days=_number(env, "RISC_RETENTION_DAYS", 30.0),
            uses_sandbox=sandbox,
        )
        if found.retention_days * 86400 <= found.max_token_age_seconds:
            raise ValueError("RISC_RETENTION_DAYS must outlast RISC_MAX_TOKEN_AGE_SECONDS")
        return found


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: must be a number") from None
    if value <= 0:
        raise ValueError(f"{name}: must be positive")
    return value
