"""Delivering one webhook, decided on in-memory fakes: the attempt is signed and sent to the
address that was checked, retried on the schedule, refused when the host now resolves inside,
and an endpoint failing for the configured days is disabled once, its admins told once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from mailroute.core.errors import ProviderUnavailableError
from mailroute.core.webhook_addresses import parse_networks
from mailroute.core.webhook_notice_text import webhook_disabled_notice
from mailroute.core.webhook_ports import DisabledNotice
from mailroute.core.webhook_rules import DisablePolicy, RetrySchedule
from mailroute.events import UnreadableEventError
from mailroute.services.webhook_delivery import WebhookDeliveryDeps, deliver, notify_disabled
from tests.unit.webhook_fakes import (
    Clock,
    FakeMail,
    FakeOutbox,
    FakeResolver,
    FakeTransport,
    FakeWebhookStore,
)

SCHEDULE = (5.0, 300.0, 1800.0)


def _deps(
    store: FakeWebhookStore,
    transport: FakeTransport,
    resolver: FakeResolver | None = None,
    **overrides: object,
) -> WebhookDeliveryDeps:
    values: dict[str, object] = {
        "attempts": store,
        "notices": store,
        "resolver": resolver or FakeResolver(),
        "transport": transport,
        "outbox": FakeOutbox(),
        "mail": FakeMail(),
        "default_from": "mailroute <no-reply@mailroute.example>",
        "public_base_url": "https://mailroute.example",
        "schedule": RetrySchedule(SCHEDULE, jitter=0.0),
        "disable": DisablePolicy(after=timedelta(days=5)),
        "now": store.clock,
        "spread": lambda: 0.0,
    }
    values.update(overrides)
    return WebhookDeliveryDeps(**values)  # type: ignore[arg-type]


@pytest.fixture
def store() -> FakeWebhookStore:
    return FakeWebhookStore(Clock())


def test_a_due_delivery_is_signed_sent_to_the_checked_address_and_recorded(
    store: FakeWebhookStore,
) -> None:
    endpoint = store.add_endpoint("https://hooks.acme.example/in?k=1")
    delivery = store.add_delivery(endpoint, data={"type": "EmailSent", "email_id": "e1"})
    transport = FakeTransport(204)

    assert deliver(delivery.id, _deps(store, transport)) == "delivered"

    [sent] = transport.sent
    assert sent.address == "93.184.216.34"
    assert sent.target.host_header == "hooks.acme.example"
    assert sent.target.url_for(sent.address) == "https://93.184.216.34:443/in?k=1"
    verified = Webhook(endpoint.secrets[0]).verify(sent.body, sent.headers)
    assert verified["type"] == "email.sent"
    assert verified["data"] == {"type": "EmailSent", "email_id": "e1"}
    assert sent.headers["webhook-id"] == f"msg_{delivery.id}"
    assert store.deliveries[delivery.id].status == "delivered"


def test_a_failed_attempt_is_retried_on_the_schedule_until_it_is_spent(
    store: FakeWebhookStore,
) -> None:
    delivery = store.add_delivery(store.add_endpoint())
    transport = FakeTransport(503, 500, "connect_error: refused", 502)
    deps = _deps(store, transport)
    outcomes = []
    for wait in (0, *SCHEDULE):
        store.clock.advance(wait)
        outcomes.append(deliver(delivery.id, deps))
        row = store.deliveries[delivery.id]
        if row.next_attempt_at is not None:
            assert row.next_attempt_at - store.clock() == timedelta(
                seconds=SCHEDULE[row.attempts - 1]
            )

    assert outcomes == ["retrying", "retrying", "retrying", "failed"]
    assert len(transport.sent) == 4
    assert {s.headers["webhook-id"] for s in transport.sent} == {f"msg_{delivery.id}"}
    assert [a.status_code for a in store.deliveries[delivery.id].log] == [503, 500, None, 502]
    assert store.deliveries[delivery.id].log[2].error == "connect_error: refused"


def test_an_attempt_before_its_time_or_a_second_message_sends_nothing(
    store: FakeWebhookStore,
) -> None:
    delivery = store.add_delivery(store.add_endpoint())
    transport = FakeTransport(500)
    deps = _deps(store, transport)
    assert deliver(delivery.id, deps) == "retrying"
    assert deliver(delivery.id, deps) == "not_due"  # due in 5 s
    store.clock.advance(5)
    assert deliver(delivery.id, deps) == "delivered"
    assert deliver(delivery.id, deps) == "not_due"  # a duplicate message, after the success
    assert len(transport.sent) == 2


def test_a_redirect_is_a_failed_attempt(store: FakeWebhookStore) -> None:
    delivery = store.add_delivery(store.add_endpoint())
    assert deliver(delivery.id, _deps(store, FakeTransport(302))) == "retrying"
    assert store.deliveries[delivery.id].log[0].status_code == 302


def test_a_host_that_now_resolves_inside_is_not_sent_to(store: FakeWebhookStore) -> None:
    """Registered while public; its DNS changed since."""
    delivery = store.add_delivery(store.add_endpoint())
    resolver = FakeResolver({"hooks.acme.example": ["93.184.216.34", "10.0.0.5"]})
    transport = FakeTransport()

    assert deliver(delivery.id, _deps(store, transport, resolver)) == "retrying"

    assert transport.sent == []
    [attempt] = store.deliveries[delivery.id].log
    assert attempt.status_code is None
    assert attempt.error is not None
    assert attempt.error.startswith("not sent (private_address)")
    assert "10.0.0.5" in attempt.error


def test_an_allowed_private_network_is_reached(store: FakeWebhookStore) -> None:
    delivery = store.add_delivery(store.add_endpoint("http://127.0.0.1:8080/hook"))
    transport = FakeTransport(200)
    allowed = parse_networks(["127.0.0.0/8"])
    assert deliver(delivery.id, _deps(store, transport, allowed_networks=allowed)) == "delivered"
    assert transport.sent[0].address == "127.0.0.1"


def test_a_host_that_no_longer_resolves_is_a_failed_attempt(store: FakeWebhookStore) -> None:
    delivery = store.add_delivery(store.add_endpoint("https://gone.acme.example/"))
    assert deliver(delivery.id, _deps(store, FakeTransport())) == "retrying"
    assert "resolvable_host" in (store.deliveries[delivery.id].log[0].error or "")


def test_during_an_overlap_both_secrets_sign(store: FakeWebhookStore) -> None:
    new, old = store.add_endpoint().secrets[0], store.add_endpoint().secrets[0]
    endpoint = store.add_endpoint(secrets=(new, old))
    transport = FakeTransport(200)
    deliver(store.add_delivery(endpoint).id, _deps(store, transport))
    [sent] = transport.sent
    assert Webhook(new).verify(sent.body, sent.headers)
    assert Webhook(old).verify(sent.body, sent.headers)
    assert len(sent.headers["webhook-signature"].split(" ")) == 2


def test_an_unreadable_secret_fails_the_attempt_without_sending(store: FakeWebhookStore) -> None:
    delivery = store.add_delivery(store.add_endpoint(secrets=()))
    transport = FakeTransport()
    assert deliver(delivery.id, _deps(store, transport)) == "retrying"
    assert transport.sent == []
    assert "rotate" in (store.deliveries[delivery.id].log[0].error or "")


def test_a_replay_of_an_ended_delivery_is_one_attempt(store: FakeWebhookStore) -> None:
    delivery = store.add_delivery(store.add_endpoint(), final_attempt=True)
    assert deliver(delivery.id, _deps(store, FakeTransport(500))) == "failed"


def test_an_endpoint_failing_for_the_configured_days_is_disabled_once_and_told_once(
    store: FakeWebhookStore,
) -> None:
    endpoint = store.add_endpoint(failing_since=store.clock() - timedelta(days=4, hours=23))
    first, second, third = (store.add_delivery(endpoint) for _ in range(3))
    deps = _deps(store, FakeTransport(500, 500, 500))

    assert deliver(first.id, deps) == "retrying"
    assert endpoint.enabled  # 4 days 23 hours of failures: not yet
    store.clock.advance(3600)
    deliver(second.id, deps)
    deliver(third.id, deps)  # the endpoint is disabled: the third is held, never attempted

    assert not endpoint.enabled
    assert endpoint.reason == "every delivery attempt failed for 5 days"
    assert store.tasks == [("notify_webhook_disabled", [endpoint.id, 1])]
    assert deps.outbox.published == [1]  # type: ignore[attr-defined]
    assert {d.status for d in (first, second)} == {"held"}
    assert third.status == "held"
    assert third.attempts == 0

    assert notify_disabled(endpoint.id, 1, deps) == "sent"
    assert notify_disabled(endpoint.id, 1, deps) == "already_sent"
    [(message, envelope)] = deps.mail.sent  # type: ignore[attr-defined]
    assert envelope.recipients == ("admin@acme.example",)
    assert b"webhook endpoint disabled" in message


def test_a_success_starts_the_failure_window_afresh(store: FakeWebhookStore) -> None:
    endpoint = store.add_endpoint(failing_since=store.clock() - timedelta(days=4))
    deliver(store.add_delivery(endpoint).id, _deps(store, FakeTransport(200)))
    assert endpoint.failing_since is None
    store.clock.advance(2 * 86400)
    deliver(store.add_delivery(endpoint).id, _deps(store, FakeTransport(500)))
    assert endpoint.enabled
    assert endpoint.failing_since == store.clock()


def test_an_endpoint_answering_410_gone_is_disabled_at_once(store: FakeWebhookStore) -> None:
    endpoint = store.add_endpoint()
    deliver(store.add_delivery(endpoint).id, _deps(store, FakeTransport(410)))
    assert not endpoint.enabled
    assert endpoint.reason == "the endpoint answered 410 Gone"


def test_a_notice_whose_mail_fails_is_sent_on_the_next_try(store: FakeWebhookStore) -> None:
    endpoint = store.add_endpoint()
    store.disable(endpoint.id, "every delivery attempt failed for 5 days")
    deps = _deps(store, FakeTransport(), mail=FakeMail([ProviderUnavailableError("421 busy")]))
    with pytest.raises(ProviderUnavailableError):
        notify_disabled(endpoint.id, 1, deps)
    assert notify_disabled(endpoint.id, 1, deps) == "sent"
    assert len(deps.mail.sent) == 1  # type: ignore[attr-defined]


def test_a_message_that_names_no_delivery_is_refused_and_never_retried(
    store: FakeWebhookStore,
) -> None:
    with pytest.raises(UnreadableEventError):
        deliver("not-a-uuid", _deps(store, FakeTransport()))
    with pytest.raises(UnreadableEventError):
        notify_disabled("not-a-uuid", 1, _deps(store, FakeTransport()))


def test_a_signature_of_another_delivery_does_not_verify(store: FakeWebhookStore) -> None:
    endpoint = store.add_endpoint()
    transport = FakeTransport(200, 200)
    deps = _deps(store, transport)
    deliver(store.add_delivery(endpoint).id, deps)
    deliver(store.add_delivery(endpoint).id, deps)
    first, second = transport.sent
    mixed = {**second.headers, "webhook-signature": first.headers["webhook-signature"]}
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secrets[0]).verify(second.body, mixed)
    assert json.loads(first.body)["type"] == "email.sent"


def test_the_disabled_notice_says_which_endpoint_why_and_how_to_enable_it() -> None:
    notice = DisabledNotice(
        endpoint_id="e1",
        generation=1,
        company_id="c1",
        company_name="Acme Ltd",
        url="https://hooks.acme.example/in?token=abc",
        reason="every delivery attempt failed for 5 days",
        disabled_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
    )
    text = webhook_disabled_notice(notice, "https://mailroute.example/").text
    assert "https://hooks.acme.example/in on 2026-01-05 09:30 UTC" in text
    assert "token=abc" not in text
    assert "every delivery attempt failed for 5 days" in text
    assert "POST https://mailroute.example/v1/webhooks/e1/enable" in text
