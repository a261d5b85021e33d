"""A receiver that is down for a while gets every event once it is back — exactly once after
de-duplicating on `webhook-id` — and the delivery list shows the failed attempts, then the
success; a redirect is a failed attempt and its target is never requested."""

from __future__ import annotations

from collections import Counter

from tests.integration.webhooks.conftest import Hooks
from tests.integration.webhooks.receiver import Received, Receiver, receiving
from tests.private_stack import PrivateStack
from tests.stack import free_port


def test_a_receiver_down_for_a_while_gets_each_event_exactly_once_after_dedup(
    hooks: Hooks,
) -> None:
    port = free_port()  # nothing listens there yet: connections are refused
    endpoint_id, secret = hooks.register(f"http://127.0.0.1:{port}/hook", ["email.sent"])
    emails = {hooks.send_email(), hooks.send_email()}

    hooks.wait_deliveries(
        endpoint_id,
        lambda found: len(found) == 2 and all(len(d["attempts"]) >= 2 for d in found),
        what="two failed attempts at each delivery",
    )
    receiver = Receiver(port=port)
    receiver.answer(503)  # back, but not quite ready at first
    receiver.start()
    try:
        deliveries = hooks.wait_deliveries(
            endpoint_id,
            lambda found: all(d["status"] == "delivered" for d in found),
            what="both deliveries to succeed",
        )
        requests = list(receiver.received)
    finally:
        receiver.stop()

    by_webhook_id: dict[str, list[Received]] = {}
    for request in requests:
        by_webhook_id.setdefault(request.webhook_id, []).append(request)
    assert set(by_webhook_id) == {d["webhook_id"] for d in deliveries}
    # Deduplicated on webhook-id, each event arrived exactly once: the same bytes every time.
    events = [group[0].verified(secret)["data"]["email_id"] for group in by_webhook_id.values()]
    assert Counter(events) == Counter(emails)
    assert all(len({r.body for r in group}) == 1 for group in by_webhook_id.values())
    for delivery in deliveries:
        attempts = delivery["attempts"]
        assert attempts[-1]["status_code"] == 200
        failed = attempts[:-1]
        assert len(failed) >= 2
        assert all(a["status_code"] != 200 for a in failed)
        refused = [a for a in failed if a["status_code"] is None]
        assert len(refused) >= 2
        assert all(a["error"].startswith("connect_error") for a in refused)
    assert sorted(
        a["status_code"] for d in deliveries for a in d["attempts"] if a["status_code"]
    ) == [
        200,
        200,
        503,
    ]


def test_a_redirect_is_a_failed_attempt_and_its_target_is_never_requested(hooks: Hooks) -> None:
    with receiving() as target, receiving() as redirecting:
        redirecting.redirect_to(target.url("/elsewhere"))
        endpoint_id, _ = hooks.register(redirecting.url(), ["email.sent"])
        hooks.send_email()

        [delivery] = hooks.wait_deliveries(
            endpoint_id,
            lambda found: bool(found) and len(found[0]["attempts"]) >= 2,
            what="two attempts answered with a redirect",
        )

        assert delivery["status"] in ("pending", "sending")
        assert [a["status_code"] for a in delivery["attempts"][:2]] == [302, 302]
        assert target.received == []
        assert len(redirecting.received) >= 2
        hooks.api.delete(f"/v1/webhooks/{endpoint_id}", headers=hooks.company.headers())


def test_an_attempt_whose_worker_died_is_made_again_by_the_clock(
    hooks: Hooks, hooks_stack: PrivateStack
) -> None:
    """The delivery is left `sending` under a claim no worker holds any more, as a worker
    killed mid-attempt leaves it; once the claim has expired the clock sends it again."""
    with receiving() as receiver:
        endpoint_id, secret = hooks.register(receiver.url(), ["email.sent"])
        hooks.send_email()
        [first] = receiver.wait_for(1)
        [delivery] = hooks.wait_deliveries(
            endpoint_id, lambda found: found[0]["status"] == "delivered"
        )
        with hooks_stack.pool.connection() as conn:
            conn.execute(
                "UPDATE webhook_deliveries SET status = 'sending', claim_token = gen_random_uuid(),"
                " claimed_at = now() - interval '5 minutes',"
                " queued_at = now() - interval '5 minutes' WHERE id = %s",
                (delivery["id"],),
            )

        _, again = receiver.wait_for(2)

        assert again.webhook_id == first.webhook_id
        assert again.verified(secret) == first.verified(secret)
        [after] = hooks.wait_deliveries(
            endpoint_id, lambda found: found[0]["status"] == "delivered"
        )
        assert len(after["attempts"]) == 2
