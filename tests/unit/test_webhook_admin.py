"""What an admin does with webhooks (`WebhookAdmin`), on fakes: every refusal names its field
and rule, the secret is answered once, another company's endpoint is not found."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from mailroute.core.webhook_addresses import parse_networks
from mailroute.core.webhook_ports import Delivery, WebhookRefusedError
from mailroute.services.webhook_endpoints import WebhookAdmin
from tests.unit.webhook_fakes import FakeOutbox, FakeResolver, FakeWebhookRegistry

RESOLVER = FakeResolver(
    {
        "hooks.acme.example": ["93.184.216.34", "2606:4700::1111"],
        "localhost": ["127.0.0.1", "::1"],
        "inside.acme.example": ["93.184.216.34", "192.168.1.20"],
    }
)


def _admin(registry: FakeWebhookRegistry, *, allowed: str = "") -> tuple[WebhookAdmin, FakeOutbox]:
    outbox = FakeOutbox()
    admin = WebhookAdmin(
        registry,
        registry,
        registry,
        resolver=RESOLVER,
        outbox=outbox,
        allowed_networks=parse_networks([allowed] if allowed else []),
    )
    return admin, outbox


def _refusal(call: object, *args: object, **kwargs: object) -> tuple[str, str, str]:
    with pytest.raises(WebhookRefusedError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value.kind, caught.value.field, caught.value.rule


def test_an_endpoint_is_registered_and_its_secret_answered_once() -> None:
    registry = FakeWebhookRegistry()
    admin, _ = _admin(registry)
    made = admin.create("c1", url="https://hooks.acme.example/in", event_types=["email.*"])
    assert made.secret.startswith("whsec_")
    assert registry.secrets[made.endpoint.id] == [made.secret]
    assert not hasattr(admin.get("c1", made.endpoint.id), "secret")
    assert [e.id for e in admin.endpoints("c1")] == [made.endpoint.id]


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("https://10.0.0.5/hook", "private_address"),
        ("https://127.0.0.1/", "loopback_address"),
        ("https://[::1]/", "loopback_address"),
        ("https://localhost/", "loopback_address"),
        ("https://inside.acme.example/", "private_address"),
        ("https://169.254.169.254/latest/meta-data", "link_local_address"),
        ("https://[::ffff:10.0.0.5]/", "private_address"),
        ("https://100.64.1.1/", "cgnat_address"),
        ("https://nowhere.acme.example/", "resolvable_host"),
        ("http://hooks.acme.example/", "https_required"),
        ("https://u:p@hooks.acme.example/", "no_credentials"),
    ],
)
def test_a_url_that_could_reach_inside_is_refused_naming_url_and_its_rule(
    url: str, rule: str
) -> None:
    admin, _ = _admin(FakeWebhookRegistry())
    assert _refusal(admin.create, "c1", url=url, event_types=["email.sent"]) == (
        "invalid",
        "url",
        rule,
    )


def test_an_allowed_private_network_may_be_reached_over_plain_http() -> None:
    admin, _ = _admin(FakeWebhookRegistry(), allowed="127.0.0.0/8")
    made = admin.create("c1", url="http://127.0.0.1:8080/hook", event_types=["email.sent"])
    assert made.endpoint.url == "http://127.0.0.1:8080/hook"
    # localhost also resolves to ::1, which is not allowed
    refused = _refusal(admin.create, "c1", url="http://localhost:8080/", event_types=["email.sent"])
    assert refused == ("invalid", "url", "loopback_address")


def test_a_subscription_to_an_unknown_type_is_refused_naming_the_entry() -> None:
    admin, _ = _admin(FakeWebhookRegistry())
    refused = _refusal(
        admin.create,
        "c1",
        url="https://hooks.acme.example/",
        event_types=["email.sent", "email.opened"],
    )
    assert refused == ("invalid", "event_types[1]", "one_of")


def test_a_company_has_at_most_so_many_endpoints() -> None:
    admin, _ = _admin(FakeWebhookRegistry(limit=1))
    admin.create("c1", url="https://hooks.acme.example/a", event_types=["email.sent"])
    refused = _refusal(
        admin.create, "c1", url="https://hooks.acme.example/b", event_types=["email.sent"]
    )
    assert refused == ("conflict", "url", "max_endpoints")


def test_another_companys_endpoint_is_not_found_by_any_call() -> None:
    registry = FakeWebhookRegistry()
    admin, _ = _admin(registry)
    theirs = admin.create("c1", url="https://hooks.acme.example/", event_types=["email.sent"])
    endpoint_id = theirs.endpoint.id
    not_found = ("not_found", "webhook_id", "known_webhook_id")
    assert _refusal(admin.get, "c2", endpoint_id) == not_found
    assert _refusal(admin.delete, "c2", endpoint_id) == not_found
    assert _refusal(admin.rotate_secret, "c2", endpoint_id) == not_found
    assert _refusal(admin.enable, "c2", endpoint_id) == not_found
    assert _refusal(admin.deliveries, "c2", endpoint_id) == not_found
    assert _refusal(admin.replay, "c2", endpoint_id, str(uuid.uuid4())) == not_found
    assert admin.endpoints("c2") == []
    assert registry.secrets[endpoint_id] == [theirs.secret]


def test_a_rotation_answers_a_new_secret_and_keeps_the_old_one_for_the_overlap() -> None:
    registry = FakeWebhookRegistry()
    admin, _ = _admin(registry)
    made = admin.create("c1", url="https://hooks.acme.example/", event_types=["email.sent"])
    rotated = admin.rotate_secret("c1", made.endpoint.id, overlap_seconds=3600)
    assert rotated.secret != made.secret
    assert registry.secrets[made.endpoint.id] == [rotated.secret, made.secret]
    expires = rotated.endpoint.previous_secret_expires_at
    assert expires is not None
    assert 3590 < (expires - datetime.now(UTC)).total_seconds() <= 3600
    refused = _refusal(admin.rotate_secret, "c1", made.endpoint.id, overlap_seconds=8 * 86400)
    assert refused == ("invalid", "overlap_seconds", "range")


def _with_delivery(registry: FakeWebhookRegistry, admin: WebhookAdmin) -> tuple[str, str]:
    made = admin.create("c1", url="https://hooks.acme.example/", event_types=["email.sent"])
    delivery = Delivery(
        str(uuid.uuid4()), made.endpoint.id, "email.sent", "delivered", 1, datetime.now(UTC), {}
    )
    registry.delivery_rows[delivery.id] = delivery
    return made.endpoint.id, delivery.id


def test_a_replay_is_published_at_once_and_keeps_the_webhook_id() -> None:
    registry = FakeWebhookRegistry()
    admin, outbox = _admin(registry)
    endpoint_id, delivery_id = _with_delivery(registry, admin)
    replayed = admin.replay("c1", endpoint_id, delivery_id)
    assert replayed.webhook_id == f"msg_{delivery_id}"
    assert outbox.published == [7]


@pytest.mark.parametrize(
    ("outcome", "refusal"),
    [
        ("endpoint_disabled", ("conflict", "webhook_id", "endpoint_enabled")),
        ("in_flight", ("conflict", "delivery_id", "not_in_flight")),
    ],
)
def test_a_replay_that_cannot_run_now_is_a_conflict(
    outcome: str, refusal: tuple[str, str, str]
) -> None:
    registry = FakeWebhookRegistry()
    admin, outbox = _admin(registry)
    endpoint_id, delivery_id = _with_delivery(registry, admin)
    registry.replay_outcome = outcome  # type: ignore[assignment]
    assert _refusal(admin.replay, "c1", endpoint_id, delivery_id) == refusal
    assert outbox.published == []


def test_an_unknown_delivery_of_ones_own_endpoint_is_not_found_naming_the_delivery() -> None:
    registry = FakeWebhookRegistry()
    admin, _ = _admin(registry)
    endpoint_id, _delivery = _with_delivery(registry, admin)
    refusal = ("not_found", "delivery_id", "known_delivery_id")
    assert _refusal(admin.replay, "c1", endpoint_id, str(uuid.uuid4())) == refusal
    assert _refusal(admin.delivery, "c1", endpoint_id, str(uuid.uuid4())) == refusal
    assert _refusal(admin.deliveries, "c1", endpoint_id, limit=0) == ("invalid", "limit", "range")
