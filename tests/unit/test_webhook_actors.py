"""The `webhooks` queue's actors on dramatiq's StubBroker and a real `dramatiq.Worker`, with the
delivery on in-memory fakes (`set_webhook_deps`): a duplicate message sends nothing more, a
message that names no delivery is never retried, the disabled notice goes out once.

The actor module is (re)loaded on the stub for each test and put back as it was afterwards."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import dramatiq
import dramatiq.broker
import pytest
import structlog
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Retries
from structlog.testing import capture_logs

from mailroute.adapters.rabbitmq.middleware import LogContext
from mailroute.core.webhook_rules import DisablePolicy, RetrySchedule
from mailroute.events import queues
from mailroute.services.webhook_delivery import WebhookDeliveryDeps
from mailroute.workers.webhook_dependencies import set_webhook_deps
from tests.unit.webhook_fakes import (
    Clock,
    FakeMail,
    FakeOutbox,
    FakeResolver,
    FakeTransport,
    FakeWebhookStore,
)

PACKAGE = "mailroute.workers.actors"
MODULE = f"{PACKAGE}.webhooks"
# What importing the actor module may bring in (the package declares every queue's actors).
MODULES = [PACKAGE, *(f"{PACKAGE}.{n}" for n in ("dispatch", "gmail", "notify", "smtp")), MODULE]


@pytest.fixture
def broker() -> Iterator[StubBroker]:
    previous = dramatiq.broker.global_broker
    saved = {name: dict(vars(m)) if (m := sys.modules.get(name)) else None for name in MODULES}
    stub = StubBroker(
        middleware=[
            LogContext(),
            Retries(max_retries=3, min_backoff=1, max_backoff=5),
            CurrentMessage(),
        ]
    )
    dramatiq.set_broker(stub)
    if saved[PACKAGE] is None:
        sys.modules.pop(MODULE, None)  # left behind by another test's clean-up: declare it anew
        importlib.import_module(MODULE)
    else:
        importlib.reload(sys.modules[MODULE])
    worker = dramatiq.Worker(stub, worker_threads=1, worker_timeout=10)
    worker.start()
    try:
        yield stub
    finally:
        worker.stop()
        set_webhook_deps(None)
        stub.close()
        dramatiq.broker.global_broker = previous
        for name, before in saved.items():
            if before is None:
                sys.modules.pop(name, None)
            else:
                vars(sys.modules[name]).clear()
                vars(sys.modules[name]).update(before)
        if saved[PACKAGE] is None:
            vars(sys.modules["mailroute.workers"]).pop("actors", None)


def _deps(store: FakeWebhookStore, transport: FakeTransport) -> WebhookDeliveryDeps:
    return WebhookDeliveryDeps(
        attempts=store,
        notices=store,
        resolver=FakeResolver(),
        transport=transport,
        outbox=FakeOutbox(),
        mail=FakeMail(),
        default_from="mailroute <no-reply@mailroute.example>",
        public_base_url="https://mailroute.example",
        schedule=RetrySchedule((5.0,)),
        disable=DisablePolicy(after=timedelta(days=5)),
        now=store.clock,
    )


def _run(broker: StubBroker, actor: str, *args: Any) -> list[dict[str, Any]]:
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as lines:
        broker.get_actor(actor).send(*args)
        broker.join(queues.WEBHOOKS, timeout=10_000, fail_fast=False)
    return lines


def test_a_duplicate_message_for_a_delivered_webhook_sends_nothing_more(broker: StubBroker) -> None:
    store = FakeWebhookStore(Clock())
    transport = FakeTransport(200)
    set_webhook_deps(_deps(store, transport))
    delivery = store.add_delivery(store.add_endpoint())

    _run(broker, queues.DELIVER_WEBHOOK, delivery.id)
    _run(broker, queues.DELIVER_WEBHOOK, delivery.id)

    assert len(transport.sent) == 1
    assert store.deliveries[delivery.id].status == "delivered"


def test_a_message_that_names_no_delivery_is_dead_lettered_without_a_retry(
    broker: StubBroker,
) -> None:
    store = FakeWebhookStore(Clock())
    set_webhook_deps(_deps(store, FakeTransport()))
    lines = _run(broker, queues.DELIVER_WEBHOOK, "../../etc")
    done = [line for line in lines if line["event"] == "message.done"]
    assert [(line["outcome"], line["retries"]) for line in done] == [("error", 0)]
    assert len(broker.dead_letters_by_queue[queues.WEBHOOKS]) == 1


def test_the_disabled_notice_is_mailed_once_for_two_messages(broker: StubBroker) -> None:
    store = FakeWebhookStore(Clock())
    deps = _deps(store, FakeTransport())
    set_webhook_deps(deps)
    endpoint = store.add_endpoint()
    store.disable(endpoint.id, "every delivery attempt failed for 5 days")

    _run(broker, queues.NOTIFY_WEBHOOK_DISABLED, endpoint.id, 1)
    _run(broker, queues.NOTIFY_WEBHOOK_DISABLED, endpoint.id, 1)

    assert len(deps.mail.sent) == 1  # type: ignore[attr-defined]
