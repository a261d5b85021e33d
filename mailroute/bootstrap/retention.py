"""Retention's adapters: the clock's pruner, and the CLI's company deletion."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from datetime import timedelta

from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL

from mailroute.adapters.db.company_erasure import PostgresCompanyEraser
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.db.retention import PostgresRetention
from mailroute.bootstrap.adapters import gmail_connections
from mailroute.bootstrap.cli import CliServices
from mailroute.config.settings import Settings
from mailroute.core.retention import RetentionPolicy
from mailroute.services.company_deletion import CompanyDeleted, delete_company
from mailroute.services.retention import RetentionPruner


def retention_policy(settings: Settings) -> RetentionPolicy:
    """RETENTION_DAYS and OUTBOX_RETENTION_DAYS, and how long RabbitMQ keeps a dead message
    (dramatiq's `<queue>.XQ` TTL: a dead-lettered email can be replayed until then)."""
    policy = RetentionPolicy.from_days(settings.retention_days, settings.outbox_retention_days)
    return dataclasses.replace(policy, dead_message_ttl=timedelta(milliseconds=DEAD_MESSAGE_TTL))


def retention_pruner(settings: Settings, pool: Pool) -> RetentionPruner:
    return RetentionPruner(PostgresRetention(pool), retention_policy(settings))


def company_deleter(built: CliServices) -> Callable[[str], CompanyDeleted | None]:
    """`delete_company` with the Gmail connection use cases (for the revocation) and the
    eraser, on the CLI's pool and relay."""
    gmail = gmail_connections(built.settings, built.pool, built.relay, built.connections())
    return functools.partial(delete_company, gmail=gmail, eraser=PostgresCompanyEraser(built.pool))
