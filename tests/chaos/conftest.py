"""Chaos tests run their own worker processes on a vhost of their own, so killing them never
disturbs the session's shared workers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.rabbitmq import DramatiqQueues
from mailroute.config.settings import Settings
from mailroute.services.intake import Intake
from tests.conftest import _delete_vhost, _ensure_vhost


@pytest.fixture
def chaos_env(stack_env: dict[str, str], database: Pool, sandbox: Any) -> Iterator[dict[str, str]]:
    vhost = f"mailroute_chaos_{uuid.uuid4().hex[:8]}"
    _ensure_vhost(vhost)
    env = {**stack_env, "RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}"}
    yield env
    _delete_vhost(vhost)


@pytest.fixture
def chaos_intake(chaos_env: dict[str, str], database: Pool) -> Iterator[Intake]:
    from mailroute.workers.broker import build_broker

    settings = Settings.from_env(chaos_env)
    broker = build_broker(settings)
    yield Intake(PostgresCompanies(database), DramatiqQueues(broker), settings.max_email_bytes)
    broker.close()
