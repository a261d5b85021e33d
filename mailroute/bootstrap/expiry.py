"""The advance notices of refresh tokens that end soon, as the clock runs them."""

from __future__ import annotations

from mailroute.adapters.db.expiry_notices import PostgresExpiryNotices
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.smtp import SmtpSender, SmtpServer
from mailroute.config.settings import Settings
from mailroute.services.expiry_notices import ExpiryNoticeService, NoticeSender


def expiry_notices(settings: Settings, pool: Pool) -> ExpiryNoticeService:
    smtp = SmtpSender(SmtpServer.from_url(settings.smtp_url), timeout=settings.smtp_timeout_seconds)
    return ExpiryNoticeService(
        PostgresExpiryNotices(pool),
        NoticeSender(
            default_from=settings.default_from,
            public_base_url=settings.public_base_url,
            transport=smtp,
            hang_up=smtp.close,
        ),
    )
