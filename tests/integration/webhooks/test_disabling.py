"""An endpoint whose every attempt has failed for WEBHOOK_DISABLE_AFTER_DAYS (5) is disabled,
and the company's admins get exactly one email about it, however many deliveries fail at once.
A disabled endpoint gets no new deliveries; enabled again, the held ones go out.

"Six days of failures" is written into the endpoint's row, as the clock would find it then."""

from __future__ import annotations

from typing import Any

from tests.conftest import SandboxClient
from tests.integration.webhooks.conftest import Hooks, endpoint_sql
from tests.integration.webhooks.receiver import receiving
from tests.private_stack import PrivateStack
from tests.settled import broker_idle
from tests.stack import wait_for


def _notices(sandbox: SandboxClient, hooks: Hooks) -> list[dict[str, Any]]:
    return [
        m
        for m in sandbox.smtp_messages(rcpt=hooks.company.admin_email)
        if "webhook endpoint disabled" in str(m.get("subject", ""))
    ]


def _quiet(stack: PrivateStack, endpoint_id: str) -> bool:
    """Nothing about the endpoint waits: its notice is sent, no task of ours is unpublished,
    and the queues are empty."""
    with stack.pool.connection() as conn:
        row = conn.execute(
            "SELECT notice_status FROM webhook_endpoints WHERE id = %s", (endpoint_id,)
        ).fetchone()
        waiting = conn.execute(
            "SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL"
            " AND routing_key = 'webhooks'"
        ).fetchone()
    assert row is not None
    assert waiting is not None
    return row["notice_status"] == "sent" and waiting["n"] == 0 and broker_idle(stack.vhost)


def test_an_endpoint_failing_for_five_days_is_disabled_and_its_admins_told_once(
    hooks: Hooks, hooks_stack: PrivateStack, sandbox: SandboxClient
) -> None:
    with receiving() as receiver:
        receiver.status = 500
        endpoint_id, secret = hooks.register(receiver.url(), ["email.sent"])
        for _ in range(3):
            hooks.send_email()
        hooks.wait_deliveries(
            endpoint_id,
            lambda found: len(found) == 3 and all(d["attempts"] for d in found),
            what="a failed first attempt at each delivery",
        )
        endpoint_sql(
            hooks_stack,
            "UPDATE webhook_endpoints SET failing_since = now() - interval '6 days' WHERE id = %s",
            endpoint_id,
        )

        disabled = wait_for(
            lambda: (e := hooks.get(f"/{endpoint_id}")) and not e["enabled"] and e,
            timeout=30,
            what="the endpoint to be disabled",
        )
        assert disabled["disabled_reason"] == "every delivery attempt failed for 5 days"
        assert disabled["disabled_at"] is not None
        wait_for(lambda: _quiet(hooks_stack, endpoint_id), timeout=30, what="the notice")
        [notice] = _notices(sandbox, hooks)
        assert hooks.company.name in notice["subject"]
        held = hooks.deliveries(endpoint_id)
        assert {d["status"] for d in held} <= {"held", "failed"}

        # Disabled: a new event gets no delivery.
        email_id = hooks.send_email()
        wait_for(
            lambda: (
                hooks.api.get(f"/v1/emails/{email_id}", headers=hooks.company.headers()).json()[
                    "status"
                ]
                == "sent"
            ),
            timeout=30,
            what="the email sent while the endpoint is disabled",
        )
        assert len(hooks.deliveries(endpoint_id)) == 3

        # Enabled again: the held deliveries go out, and new events are delivered.
        receiver.status = 200
        enabled = hooks.post(f"/{endpoint_id}/enable")
        assert enabled.status_code == 200, enabled.text
        assert enabled.json()["enabled"] is True
        assert enabled.json()["failing_since"] is None
        hooks.send_email()
        delivered = hooks.wait_deliveries(
            endpoint_id,
            lambda found: (
                len(found) == 4 and all(d["status"] in ("delivered", "failed") for d in found)
            ),
            what="the held deliveries and the new one",
        )
        assert delivered[0]["status"] == "delivered"  # the newest
        was_held = {d["id"] for d in held if d["status"] == "held"}
        assert was_held
        assert {d["id"] for d in delivered if d["status"] == "delivered"} >= was_held
        for request in receiver.received[-1:]:
            assert request.verified(secret)["type"] == "email.sent"
        assert len(_notices(sandbox, hooks)) == 1
