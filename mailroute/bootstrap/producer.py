"""Python producers (`mailroute.producer.publish`): the intake on a small pool and a broker that
fails fast."""

from __future__ import annotations

from dataclasses import dataclass

from dramatiq.brokers.rabbitmq import RabbitmqBroker

from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.emails import PostgresEmails
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.rabbitmq.queues import DramatiqQueues
from mailroute.adapters.rabbitmq.relay import OutboxRelay
from mailroute.bootstrap.adapters import open_pool, outbox_relay
from mailroute.bootstrap.broker import rabbitmq_broker
from mailroute.config.settings import Settings
from mailroute.services.intake import Intake


@dataclass
class Producer:
    intake: Intake
    pool: Pool
    broker: RabbitmqBroker
    relay: OutboxRelay

    def close(self) -> None:
        self.relay.close()
        self.broker.close()
        self.pool.close()


def build_producer(settings: Settings) -> Producer:
    broker = rabbitmq_broker(settings)  # first: it may refuse to start (queue type)
    pool = open_pool(settings, max_size=4)
    relay = outbox_relay(settings, pool)
    intake = Intake(
        PostgresCompanies(pool),
        PostgresEmails(pool),
        relay,
        DramatiqQueues(broker),
        settings.max_email_bytes,
    )
    return Producer(intake, pool, broker, relay)
