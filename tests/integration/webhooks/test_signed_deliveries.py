"""An outcome reaches a registered endpoint as a Standard Webhooks request that the
`standardwebhooks` library verifies; a replay sends it again with the same `webhook-id`; a
rotated secret and the one it replaced both sign during the overlap, only the new one after."""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from tests.integration.webhooks.conftest import Hooks, endpoint_sql
from tests.integration.webhooks.receiver import receiving
from tests.private_stack import PrivateStack


def test_an_email_sent_is_delivered_as_a_signed_email_sent_webhook(hooks: Hooks) -> None:
    with receiving() as receiver:
        endpoint_id, secret = hooks.register(receiver.url(), ["email.sent"])
        email_id = hooks.send_email()

        [request] = receiver.wait_for(1)
        body = request.verified(secret)

        assert body["type"] == "email.sent"
        assert body["timestamp"].endswith("Z")
        assert body["data"]["type"] == "EmailSent"
        assert body["data"]["email_id"] == email_id
        assert body["data"]["company_id"] == hooks.company.id
        assert request.headers["content-type"] == "application/json"
        assert request.path == "/hook"
        [delivery] = hooks.wait_deliveries(
            endpoint_id, lambda found: bool(found) and found[0]["status"] == "delivered"
        )
        assert delivery["webhook_id"] == request.webhook_id == f"msg_{delivery['id']}"
        assert delivery["data"]["email_id"] == email_id
        [attempt] = delivery["attempts"]
        assert attempt["status_code"] == 200
        assert attempt["response_body"] == "answered 200"
        assert attempt["error"] is None


def test_a_replay_delivers_again_with_the_same_webhook_id(hooks: Hooks) -> None:
    with receiving() as receiver:
        endpoint_id, secret = hooks.register(receiver.url(), ["email.sent"])
        hooks.send_email()
        [first] = receiver.wait_for(1)
        [delivery] = hooks.wait_deliveries(
            endpoint_id, lambda found: bool(found) and found[0]["status"] == "delivered"
        )

        replayed = hooks.post(f"/{endpoint_id}/deliveries/{delivery['id']}/replay")

        assert replayed.status_code == 202, replayed.text
        assert replayed.json()["webhook_id"] == first.webhook_id
        first, second = receiver.wait_for(2)
        assert second.webhook_id == first.webhook_id
        assert second.body == first.body
        assert second.verified(secret) == first.verified(secret)
        [after] = hooks.wait_deliveries(
            endpoint_id,
            lambda found: len(found[0]["attempts"]) == 2 and found[0]["status"] == "delivered",
        )
        assert [a["status_code"] for a in after["attempts"]] == [200, 200]


def test_only_the_subscribed_event_types_are_delivered(hooks: Hooks) -> None:
    with receiving() as sent_only, receiving() as failures_only:
        sent_id, _ = hooks.register(sent_only.url(), ["email.sent"])
        failed_id, _ = hooks.register(failures_only.url(), ["email.failed", "connection.*"])
        hooks.send_email()
        sent_only.wait_for(1)
        hooks.wait_deliveries(sent_id, lambda found: found[0]["status"] == "delivered")
        # The event was written with its deliveries, in one transaction: there is none for the
        # endpoint that did not subscribe, now or later.
        assert hooks.deliveries(failed_id) == []
        assert failures_only.received == []


def test_during_a_rotation_both_secrets_verify_and_after_it_only_the_new_one(
    hooks: Hooks, hooks_stack: PrivateStack
) -> None:
    with receiving() as receiver:
        endpoint_id, old = hooks.register(receiver.url(), ["email.sent"])
        rotated = hooks.post(f"/{endpoint_id}/rotate-secret", overlap_seconds=3600)
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new != old
        assert rotated.json()["previous_secret_expires_at"] is not None

        hooks.send_email()
        [during] = receiver.wait_for(1)
        assert during.verified(old) == during.verified(new)  # a receiver holding either
        assert len(during.headers["webhook-signature"].split(" ")) == 2

        endpoint_sql(
            hooks_stack,
            "UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second'"
            " WHERE id = %s",
            endpoint_id,
        )
        assert hooks.get(f"/{endpoint_id}")["previous_secret_expires_at"] is None
        hooks.send_email()
        _, after = receiver.wait_for(2)
        assert after.verified(new)["type"] == "email.sent"
        with pytest.raises(WebhookVerificationError):
            after.verified(old)
        assert len(after.headers["webhook-signature"].split(" ")) == 1


def test_the_secret_is_answered_once_and_never_listed(hooks: Hooks) -> None:
    endpoint_id, secret = hooks.register("http://127.0.0.1:9/hook")
    assert secret.startswith("whsec_")
    listed = hooks.get("")["webhooks"]
    assert [e["id"] for e in listed] == [endpoint_id]
    assert all("secret" not in e for e in listed)
    assert "secret" not in hooks.get(f"/{endpoint_id}")
    assert secret not in hooks.api.get("/v1/webhooks", headers=hooks.company.headers()).text
    deleted = hooks.api.delete(f"/v1/webhooks/{endpoint_id}", headers=hooks.company.headers())
    assert deleted.json() == {"id": endpoint_id, "deleted": True}
