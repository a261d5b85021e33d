"""mailroute's error tree. Adapters translate vendor errors into these (`raise ... from exc`).

    MailrouteError
    ├── PermanentError              fail the email at once, never retried
    │   ├── ProviderRejectedError   the provider refused this message (5xx, 400, 413)
    │   └── UnknownCompanyError
    ├── TransientError              retried with backoff and jitter, a handful of times
    │   ├── ProviderBusyError       429 / rate limits; may carry Google's "Retry after" time
    │   └── ProviderUnavailableError 5xx, timeouts, refused connections, SMTP 4xx
    └── MailboxAuthBrokenError      the mailbox's authorization is gone: the connection breaks
        ├── GmailAuthBrokenError    Google no longer honours the grant
        └── MicrosoftAuthBrokenError Microsoft's identity platform refuses the grant

Each error carries a stable `code` and a `message` written for a company admin.
"""

from __future__ import annotations

from datetime import datetime


class MailrouteError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class PermanentError(MailrouteError):
    code = "permanent_error"


class ProviderRejectedError(PermanentError):
    code = "provider_rejected"


class UnknownCompanyError(PermanentError):
    code = "unknown_company"


class TransientError(MailrouteError):
    code = "transient_error"

    def __init__(
        self, message: str, *, code: str | None = None, retry_at: datetime | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_at = retry_at


class ProviderBusyError(TransientError):
    code = "provider_busy"


class ProviderUnavailableError(TransientError):
    code = "provider_unavailable"


class MailboxAuthBrokenError(MailrouteError):
    """The provider no longer honours the grant; `reason` is one of
    `core.connection.BrokenReason`."""

    code = "mailbox_auth_broken"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class GmailAuthBrokenError(MailboxAuthBrokenError):
    code = "gmail_auth_broken"


class MicrosoftAuthBrokenError(MailboxAuthBrokenError):
    code = "microsoft_auth_broken"


class BrokerUnavailableError(RuntimeError):
    """RabbitMQ did not confirm the publish; nothing was sent. Try again later."""


class MessageRefusedError(RuntimeError):
    """RabbitMQ refused this one message (too large, say) on a working connection: sending the
    same message again would be refused again."""


class TokenDecryptionError(ValueError):
    """A stored token cannot be decrypted with any of the configured keys."""
