"""What the web app's routes share, built once at startup."""

from __future__ import annotations

from dataclasses import dataclass

import dramatiq
from fastapi import Request

from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.emails import PostgresEmails
from mailroute.adapters.db.intake_outbox import PostgresIntakeOutbox
from mailroute.adapters.db.pool import Pool
from mailroute.config.settings import Settings
from mailroute.services.intake import Intake


@dataclass
class WebContext:
    settings: Settings
    pool: Pool
    broker: dramatiq.Broker
    companies: PostgresCompanies
    emails: PostgresEmails
    intake: Intake
    intake_outbox: PostgresIntakeOutbox


def context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx
