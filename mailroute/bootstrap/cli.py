"""The CLI: each command takes only what it uses, built on first use on a small pool."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from mailroute.adapters.db.abandoned_emails import PostgresAbandonedEmails
from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.dead_letters import PostgresDeadLetters
from mailroute.adapters.db.emails import PostgresEmails
from mailroute.adapters.db.login_links import PostgresLoginLinks
from mailroute.adapters.db.pool import Pool, make_pool
from mailroute.adapters.rabbitmq.dead_letters import RabbitDeadLetters
from mailroute.adapters.rabbitmq.queues import DramatiqQueues
from mailroute.adapters.rabbitmq.relay import OutboxRelay
from mailroute.bootstrap.adapters import connection_store, outbox_relay
from mailroute.bootstrap.broker import rabbitmq_broker
from mailroute.config.settings import Settings
from mailroute.core.abandoned import DeadLetter
from mailroute.services.dead_letters import reopen_for_replay
from mailroute.services.intake import Intake


class CliServices:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def pool(self) -> Pool:
        pool = make_pool(self.settings, max_size=2)
        pool.open(wait=True, timeout=10)
        return pool

    @cached_property
    def broker(self) -> RabbitmqBroker:
        return rabbitmq_broker(self.settings)

    @cached_property
    def companies(self) -> PostgresCompanies:
        return PostgresCompanies(self.pool)

    @cached_property
    def emails(self) -> PostgresEmails:
        return PostgresEmails(self.pool)

    @cached_property
    def relay(self) -> OutboxRelay:
        return outbox_relay(self.settings, self.pool)

    @cached_property
    def intake(self) -> Intake:
        return Intake(
            self.companies,
            self.emails,
            self.relay,
            DramatiqQueues(self.broker),
            self.settings.max_email_bytes,
        )

    @cached_property
    def dead_letter_reasons(self) -> PostgresDeadLetters:
        return PostgresDeadLetters(self.pool)

    @cached_property
    def dead_letters(self) -> RabbitDeadLetters:
        """Replaying a message first opens again the email it carried (failed because the
        message died), so the replay can send it."""
        abandoned = PostgresAbandonedEmails(self.pool)
        queue = DramatiqQueues(self.broker)

        def reopen(message: dramatiq.Message[Any]) -> None:
            dead = DeadLetter(
                message_id=message.message_id,
                queue=message.queue_name,
                actor=message.actor_name,
                args=tuple(message.args),
                retries=0,
                reason="replayed",
                correlation_id=message.options.get("correlation_id"),
            )
            reopen_for_replay(dead, abandoned=abandoned, queue=queue)

        return RabbitDeadLetters(self.settings.rabbitmq_url, before_replay=reopen)

    @cached_property
    def login_links(self) -> PostgresLoginLinks:
        return PostgresLoginLinks(self.pool)

    def connections(self) -> PostgresConnections:
        """Raises ValueError when TOKEN_ENCRYPTION_KEYS holds no usable key."""
        return connection_store(self.settings, self.pool)

    def close(self) -> None:
        if "relay" in self.__dict__:
            self.relay.close()
        if "broker" in self.__dict__:
            self.broker.close()
        if "pool" in self.__dict__:
            self.pool.close()


def build_cli(settings: Settings) -> CliServices:
    return CliServices(settings)
