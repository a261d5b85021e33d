"""One frozen `Settings`, read once from the environment and passed down.

Every variable is documented in `.env.example`. Defaults serve a local run against the sandbox.
`Settings.from_env()` fails fast, naming every bad variable at once; with real Google
credentials it refuses weak secrets (`secret_strength` holds the rules).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from mailroute.config.database_url import database_url_problems
from mailroute.config.microsoft_settings import MicrosoftSettings
from mailroute.config.rabbitmq_nodes import rabbitmq_problems, split_node_urls
from mailroute.config.retention_settings import retention_problems
from mailroute.config.secret_strength import secret_key_problem, token_keys_problems
from mailroute.config.webhook_settings import WEBHOOK_RETRY_SCHEDULE, webhook_problems

SANDBOX_CLIENT_ID = "mailroute-sandbox.apps.googleusercontent.com"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - the sandbox's public demo credential
DEV_SECRET_KEY = "dev-only-secret-key-change-me"  # noqa: S105 - refused outside a local run
# A Fernet key for local runs only; production must set TOKEN_ENCRYPTION_KEYS.
DEV_TOKEN_KEY = "bWFpbHJvdXRlLWRldi1vbmx5LXRva2VuLWtleS0wMDA="  # noqa: S105


class SettingsError(ValueError):
    """One or more environment variables are missing or invalid; the message names each."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "postgresql://postgres@127.0.0.1:5432/mailroute"
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    # RABBITMQ_URL may list several nodes of one cluster, comma-separated: each process connects
    # to the first that answers. The queue type mailroute declares: quorum (replicated, the
    # default) or classic (what earlier releases declared: keeps an existing deployment as it is).
    rabbitmq_queue_type: str = "quorum"
    smtp_url: str = "smtp://127.0.0.1:2525"
    smtp_timeout_seconds: float = 20.0
    default_from: str = "mailroute <no-reply@mailroute.localhost>"
    public_base_url: str = "http://127.0.0.1:8000"
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    sandbox_base_url: str = "http://127.0.0.1:8090"
    sandbox_smtp_port: int = 2525
    # The sandbox's Microsoft part (a TLS listener); MICROSOFT_* (`microsoft_settings`).
    sandbox_microsoft_url: str = "https://127.0.0.1:8443"
    microsoft: MicrosoftSettings = dataclasses.field(default_factory=MicrosoftSettings.sandbox)
    google_client_id: str = ""
    google_client_secret: str = ""
    google_auth_uri: str = ""
    google_token_uri: str = ""
    google_revoke_uri: str = ""
    google_certs_uri: str = ""
    google_gmail_root_url: str = ""
    google_issuer: str = "https://accounts.google.com"
    token_encryption_keys: tuple[str, ...] = (DEV_TOKEN_KEY,)
    secret_key: str = DEV_SECRET_KEY
    max_email_bytes: int = 25 * 1024 * 1024
    max_recipients: int = 100
    db_pool_size: int = 10
    log_level: str = "INFO"
    log_format: str = "json"
    smtp_max_attempts: int = 5
    gmail_timeout_seconds: float = 30.0
    # Above this size a message goes by the /upload path; above the next, as a resumable upload.
    gmail_upload_threshold_bytes: int = 4 * 1024 * 1024
    gmail_resumable_threshold_bytes: int = 16 * 1024 * 1024
    # Refresh an access token this close to its expiry (at most half its lifetime).
    gmail_token_refresh_margin_seconds: float = 180.0
    gmail_max_attempts: int = 5
    # Backoff base for transient errors (doubles per attempt, with jitter).
    retry_base_seconds: float = 2.0
    # Waits longer than this are parked in PostgreSQL for the clock, not held by RabbitMQ.
    max_scheduled_retry_seconds: float = 300.0
    # Per Gmail account pacing, shared by all worker processes (a connection may override both):
    # sends a minute (Google allows 150: 15,000 quota units, 100 per send) and sends in flight.
    gmail_sends_per_minute: float = 140.0
    gmail_max_concurrent_sends: int = 4
    events_exchange: str = "mailroute.events"
    # The clock verifies every active Gmail connection this often (a token refresh), at most
    # `connection_checks_per_tick` connections per tick so checks spread over time.
    connection_check_interval_seconds: float = 3600.0
    connection_checks_per_tick: int = 10
    # Worker processes export dramatiq's Prometheus metrics here (0 turns the exporter off).
    worker_metrics_port: int = 9191
    worker_metrics_host: str = "127.0.0.1"
    # A revocation Google did not confirm is asked again after this (doubling per attempt,
    # with jitter, up to the max), for as long as it takes.
    revocation_retry_base_seconds: float = 60.0
    revocation_retry_max_seconds: float = 6 * 3600.0
    # Web hardening: the Host names the web app answers (empty: PUBLIC_BASE_URL's host), the
    # bearer token `/metrics` asks for (empty: open), the body limit of every route but
    # POST /v1/emails, and "Check now" / POST /v1/gmail/verify calls a minute per company.
    allowed_hosts: tuple[str, ...] = ()
    metrics_token: str = ""
    max_request_bytes: int = 64 * 1024
    gmail_checks_per_minute: int = 5
    # Outcome webhooks: the waits (seconds) before each retry after the first attempt, the days
    # of nothing but failed attempts after which an endpoint is disabled, one attempt's connect
    # and total timeouts, and the networks (CIDRs) that webhooks may reach although private.
    webhook_retry_schedule: tuple[float, ...] = WEBHOOK_RETRY_SCHEDULE
    webhook_disable_after_days: float = 5.0
    webhook_connect_timeout_seconds: float = 5.0
    webhook_timeout_seconds: float = 10.0
    webhook_allowed_private_networks: tuple[str, ...] = ()
    # Days an ended email keeps its bodies and attachments (rejected messages and ended webhook
    # deliveries are kept as long), and days a published outbox row is (`retention_settings`).
    retention_days: float = 30.0
    outbox_retention_days: float = 1.0

    @property
    def rabbitmq_urls(self) -> tuple[str, ...]:
        """The RabbitMQ node URLs RABBITMQ_URL lists, in order."""
        return split_node_urls(self.rabbitmq_url)

    @property
    def uses_sandbox(self) -> bool:
        """True when no Google client credentials are configured: Google is the local sandbox."""
        return not (self.google_client_id and self.google_client_secret)

    @property
    def honoured_hosts(self) -> tuple[str, ...]:
        """The Host names requests may carry: ALLOWED_HOSTS, else PUBLIC_BASE_URL's host."""
        hosts = self.allowed_hosts or (urlsplit(self.public_base_url).hostname or "",)
        return tuple(host.lower() for host in hosts if host)

    @property
    def oauth_client_id(self) -> str:
        return SANDBOX_CLIENT_ID if self.uses_sandbox else self.google_client_id

    @property
    def oauth_client_secret(self) -> str:
        return SANDBOX_CLIENT_SECRET if self.uses_sandbox else self.google_client_secret

    def google_endpoint(self, name: str) -> str:
        """The URL of a Google endpoint: the override, else Google's or the sandbox's."""
        override = getattr(self, f"google_{name}")
        if override:
            return str(override)
        base = self.sandbox_base_url.rstrip("/") if self.uses_sandbox else None
        google = {
            "auth_uri": "https://accounts.google.com/o/oauth2/v2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
            "revoke_uri": "https://oauth2.googleapis.com/revoke",
            "certs_uri": "https://www.googleapis.com/oauth2/v1/certs",
            "gmail_root_url": "https://gmail.googleapis.com/",
        }
        sandbox_paths = {
            "auth_uri": "/o/oauth2/v2/auth",
            "token_uri": "/token",
            "revoke_uri": "/revoke",
            "certs_uri": "/oauth2/v1/certs",
            "gmail_root_url": "/",
        }
        if base is None:
            return google[name]
        return base + sandbox_paths[name]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; raise `SettingsError` naming all bad variables."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        problems: list[str] = []
        for field in dataclasses.fields(cls):
            var = field.name.upper()
            if var not in env or env[var] == "" or field.name == "microsoft":
                continue
            raw = env[var]
            try:
                values[field.name] = _parse(field.type, raw)
            except ValueError as exc:
                problems.append(f"{var}: {exc}")
        settings = cls(**values)  # type: ignore[arg-type]
        sandbox = settings.sandbox_microsoft_url
        microsoft = MicrosoftSettings.from_env(env, sandbox_microsoft_url=sandbox)
        settings = dataclasses.replace(settings, microsoft=microsoft)
        problems.extend(settings._problems(env))
        if problems:
            raise SettingsError("invalid settings: " + "; ".join(problems))
        return settings

    def _problems(self, env: Mapping[str, str]) -> list[str]:
        found: list[str] = []
        for var, url, schemes in (
            ("DATABASE_URL", self.database_url, ("postgresql", "postgres")),
            ("SMTP_URL", self.smtp_url, ("smtp", "smtps", "smtp+starttls")),
            ("PUBLIC_BASE_URL", self.public_base_url, ("http", "https")),
        ):
            if urlsplit(url).scheme not in schemes:
                found.append(f"{var}: must be a URL with scheme {' or '.join(schemes)}")
        found.extend(database_url_problems(self.database_url))
        found.extend(self.microsoft.problems())
        found.extend(rabbitmq_problems(self.rabbitmq_url, self.rabbitmq_queue_type))
        if bool(self.google_client_id) != bool(self.google_client_secret):
            found.append("GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET: set both or neither")
        found.extend(self._secret_problems())
        if self.log_format not in ("json", "console"):
            found.append("LOG_FORMAT: must be json or console")
        if self.max_email_bytes <= 0:
            found.append("MAX_EMAIL_BYTES: must be positive")
        if self.gmail_sends_per_minute <= 0:
            found.append("GMAIL_SENDS_PER_MINUTE: must be positive")
        if self.max_request_bytes < 1024:
            found.append("MAX_REQUEST_BYTES: must be at least 1024")
        if self.gmail_checks_per_minute < 1:
            found.append("GMAIL_CHECKS_PER_MINUTE: must be at least 1")
        if self.gmail_max_concurrent_sends < 1:
            found.append("GMAIL_MAX_CONCURRENT_SENDS: must be at least 1")
        if "@" not in self.default_from:
            found.append("DEFAULT_FROM: must be an email address, optionally with a display name")
        found.extend(
            webhook_problems(
                self.webhook_retry_schedule,
                self.webhook_disable_after_days,
                (self.webhook_connect_timeout_seconds, self.webhook_timeout_seconds),
                self.webhook_allowed_private_networks,
            )
        )
        found.extend(retention_problems(self.retention_days, self.outbox_retention_days))
        return found

    def _secret_problems(self) -> list[str]:
        """Malformed token keys always; with real Google credentials, weak secrets too."""
        real = not self.uses_sandbox
        found: list[str] = []
        if real and self.secret_key == DEV_SECRET_KEY:
            found.append("SECRET_KEY: must be set when real Google credentials are configured")
        elif real and (weak := secret_key_problem(self.secret_key)):
            found.append(f"SECRET_KEY: {weak}")
        if real and self.token_encryption_keys == (DEV_TOKEN_KEY,):
            found.append(
                "TOKEN_ENCRYPTION_KEYS: must be set when real Google credentials are configured"
            )
        else:
            found.extend(
                f"TOKEN_ENCRYPTION_KEYS: {problem}"
                for problem in token_keys_problems(
                    self.token_encryption_keys, strict=real, dev_key=DEV_TOKEN_KEY
                )
            )
        return found

    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret, for the logs to blank wherever one would appear."""
        found = [self.secret_key, *self.token_encryption_keys, self.oauth_client_secret]
        found.extend(self.microsoft.secret_values())
        found.append(self.metrics_token)
        for url in (self.database_url, self.rabbitmq_url, self.smtp_url):
            found.append(urlsplit(url).password or "")
        found.extend(urlsplit(url).password or "" for url in self.rabbitmq_urls[1:])
        return tuple(value for value in found if len(value) >= 8)


def _parse(kind: object, raw: str) -> object:
    if kind in ("int", int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError("must be an integer") from None
    if kind in ("float", float):
        try:
            return float(raw)
        except ValueError:
            raise ValueError("must be a number") from None
    if kind in ("tuple[float, ...]",):
        try:
            numbers = tuple(float(part) for part in raw.split(",") if part.strip())
        except ValueError:
            raise ValueError("must list numbers, comma-separated") from None
        if not numbers:
            raise ValueError("must list at least one number, comma-separated")
        return numbers
    if kind in ("tuple[str, ...]",):
        parts = tuple(part.strip() for part in raw.split(",") if part.strip())
        if not parts:
            raise ValueError("must list at least one value, comma-separated")
        return parts
    return raw
