"""The fan-out is one path in the database: a trigger on the outbox writes, in the transaction
of every outcome event (whichever statement writes it), one delivery per enabled subscribed
endpoint and the task that delivers it. Its SQL matching agrees with `core.webhook_rules`, its
task names the pinned queue and actor, and the clock's questions use their partial indexes."""

from __future__ import annotations

import itertools
import uuid

from psycopg.types.json import Jsonb

from mailroute.core.webhook_rules import EVENT_TYPES, SUBSCRIBABLE, subscribes
from mailroute.events import queues
from tests.integration.webhooks.conftest import Hooks
from tests.private_stack import PrivateStack

KEYS = (*EVENT_TYPES, "email.opened", "emails.sent", "email", "connection.x.y")


def test_the_sql_subscription_match_agrees_with_the_rule(hooks_stack: PrivateStack) -> None:
    cases = [
        (list(patterns), key)
        for size in (1, 2)
        for patterns in itertools.combinations(SUBSCRIBABLE, size)
        for key in KEYS
    ]
    with hooks_stack.pool.connection() as conn:
        for patterns, key in cases:
            row = conn.execute(
                "SELECT webhook_subscribed(%s::text[], %s) AS hit", (patterns, key)
            ).fetchone()
            assert row is not None
            assert row["hit"] is subscribes(patterns, key), (patterns, key)


def test_an_event_written_to_the_outbox_gets_a_delivery_and_its_task_at_once(
    hooks: Hooks, hooks_stack: PrivateStack
) -> None:
    subscribed, _ = hooks.register("http://127.0.0.1:9/a", ["connection.*"])
    hooks.register("http://127.0.0.1:9/b", ["email.failed"])  # not subscribed
    disabled, _ = hooks.register("http://127.0.0.1:9/c", ["connection.changed"])
    with hooks_stack.pool.connection() as conn:
        conn.execute("UPDATE webhook_endpoints SET enabled = false WHERE id = %s", (disabled,))
        with conn.transaction():
            event = conn.execute(
                "INSERT INTO outbox_events (routing_key, payload, correlation_id)"
                " VALUES ('connection.changed', %s, 'corr-1') RETURNING id",
                (Jsonb({"type": "GmailConnectionChanged", "company_id": hooks.company.id}),),
            ).fetchone()
            assert event is not None
            deliveries = conn.execute(
                "SELECT id, endpoint_id, event_type, payload FROM webhook_deliveries"
                " WHERE outbox_event_id = %s",
                (event["id"],),
            ).fetchall()
            tasks = conn.execute(
                "SELECT routing_key, actor_name, payload, correlation_id FROM outbox_events"
                " WHERE id > %s AND actor_name IS NOT NULL AND payload->'args'->>0 = ANY(%s)",
                (event["id"], [str(d["id"]) for d in deliveries]),
            ).fetchall()
            conn.execute("DELETE FROM outbox_events WHERE id = %s", (event["id"],))
            conn.execute(
                "UPDATE outbox_events SET published_at = now() WHERE payload->'args'->>0 = ANY(%s)",
                ([str(d["id"]) for d in deliveries],),
            )
            conn.execute(
                "DELETE FROM webhook_deliveries WHERE outbox_event_id = %s", (event["id"],)
            )

    [delivery] = deliveries
    assert str(delivery["endpoint_id"]) == subscribed
    assert delivery["event_type"] == "connection.changed"
    assert delivery["payload"]["company_id"] == hooks.company.id
    [task] = tasks
    assert (task["routing_key"], task["actor_name"]) == (queues.WEBHOOKS, queues.DELIVER_WEBHOOK)
    assert task["correlation_id"] == "corr-1"


def test_an_event_of_another_company_or_without_one_gets_no_delivery(
    hooks: Hooks, hooks_stack: PrivateStack
) -> None:
    hooks.register("http://127.0.0.1:9/a", ["email.*"])
    with hooks_stack.pool.connection() as conn, conn.transaction():
        for payload in ({"company_id": str(uuid.uuid4())}, {"company_id": "not-a-uuid"}, {}):
            event = conn.execute(
                "INSERT INTO outbox_events (routing_key, payload) VALUES ('email.sent', %s)"
                " RETURNING id",
                (Jsonb(payload),),
            ).fetchone()
            assert event is not None
            found = conn.execute(
                "SELECT count(*) AS n FROM webhook_deliveries WHERE outbox_event_id = %s",
                (event["id"],),
            ).fetchone()
            assert found is not None
            assert found["n"] == 0
            conn.execute("DELETE FROM outbox_events WHERE id = %s", (event["id"],))


def test_the_clocks_questions_are_answered_from_their_partial_indexes(
    hooks_stack: PrivateStack,
) -> None:
    questions = {
        "webhook_deliveries_due": "SELECT id FROM webhook_deliveries WHERE status = 'pending'"
        " AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT 500",
        "webhook_deliveries_in_flight": "SELECT id FROM webhook_deliveries WHERE status ="
        " 'sending' AND claimed_at < now() - interval '2 minutes' ORDER BY claimed_at LIMIT 500",
        "webhook_endpoints_notice_pending": "SELECT id FROM webhook_endpoints WHERE"
        " notice_status = 'pending' AND notice_requested_at < now() - interval '10 minutes'",
    }
    with hooks_stack.pool.connection() as conn, conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        for index, question in questions.items():
            plan = "\n".join(r["QUERY PLAN"] for r in conn.execute("EXPLAIN " + question))
            assert index in plan, plan
