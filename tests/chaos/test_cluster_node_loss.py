"""mailroute on a three-node RabbitMQ cluster of quorum queues (a private cluster started by
these tests, `tests/chaos/rabbit_cluster.py`), with RABBITMQ_URL listing the three nodes:

- on a fresh vhost every queue of ours is a quorum queue with a replica on each node;
  RABBITMQ_QUEUE_TYPE=classic keeps classic queues, and a quorum worker then refuses to start;
- a message whose workers die with it is failed on its last delivery, or dead-lettered by
  RabbitMQ itself, and `mailroute dlq` lists it with its reason and replays it;
- the outbox publisher loses no row when the node it publishes through, which leads the queue,
  dies (it publishes with confirms: a transaction there lost most of them);
- 1,000 emails (Gmail and the default sender, over HTTP and Python's `publish`) while the node
  that leads the queues, and holds every client connection, is killed with SIGKILL and later
  started again: none is lost, none is sent twice unless flagged `possible_duplicate`.

Each test has a database and a vhost of its own; processes are mailroute's real ones."""

from __future__ import annotations

import collections
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mailroute.adapters.db.outbox import OutboxRow
from mailroute.adapters.rabbitmq.publisher import PikaPublisher
from mailroute.adapters.rabbitmq.queue_types import REDELIVERY_LIMIT
from mailroute.config.settings import Settings
from mailroute.core.errors import BrokerUnavailableError
from mailroute.events import queues
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.chaos.cluster_load import (
    Load,
    dead_listed,
    die_with,
    dlq,
    longest_pause,
    on_cluster,
    queued_on_smtp,
    received,
    recovered_after,
)
from tests.chaos.rabbit_cluster import (
    PrivateCluster,
    dead_letters,
    drain,
    leaders,
    our_queues,
    private_cluster,
)
from tests.conftest import SandboxClient, worker_ready
from tests.private_stack import PrivateStack
from tests.stack import MAILROUTE, wait_for

pytestmark = pytest.mark.chaos

EMAILS = 1000
GMAIL_ACCOUNTS = 8
PUBLISH_RATE = 50.0  # per second: still publishing when the node dies
KILL_AFTER_SENT = 150
RESTART_AFTER_SENT = 500  # more sent on two nodes before the third comes back
FIGURES = Path(__file__).resolve().parents[2] / ".run" / "cluster-figures.json"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    with private_cluster(3) as nodes:
        yield nodes


@pytest.fixture
def google(settings: Settings, sandbox: SandboxClient) -> Iterator[GoogleSandbox]:
    with GoogleSandbox(settings.sandbox_base_url) as client:
        yield client


def _ended(stack: PrivateStack, email_id: str) -> dict[str, Any] | None:
    row = stack.email_row(email_id)
    return row if row is not None and row["status"] in ("sent", "failed") else None


def test_on_a_fresh_vhost_every_queue_is_a_quorum_queue_with_a_replica_on_each_node(
    stack_env: dict[str, str], cluster: PrivateCluster, sandbox: SandboxClient
) -> None:
    with on_cluster(stack_env, cluster) as (stack, vhost):
        stack.worker()  # declares every queue its actors use as it boots

        listed = our_queues(cluster, vhost, "type", "members")
        assert {name: kind for name, (kind, _) in listed.items()} == dict.fromkeys(listed, "quorum")
        every_node = {rabbit.node for rabbit in cluster.nodes}
        for name, (_, members) in listed.items():
            assert set(members.strip("[]").replace(" ", "").split(",")) == every_node, name

        company = stack.company()
        email_id = stack.send(company)
        row = wait_for(lambda: _ended(stack, email_id), timeout=30, what="the email")
        assert row["status"] == "sent"
        assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == 1


def test_classic_queues_still_work_and_a_quorum_worker_refuses_them_naming_the_setting(
    stack_env: dict[str, str], cluster: PrivateCluster, sandbox: SandboxClient
) -> None:
    with on_cluster(stack_env, cluster, RABBITMQ_QUEUE_TYPE="classic") as (stack, vhost):
        stack.worker()
        company = stack.company()
        email_id = stack.send(company)
        row = wait_for(lambda: _ended(stack, email_id), timeout=30, what="the email")
        assert row["status"] == "sent"
        listed = our_queues(cluster, vhost, "type")
        assert {name: kind for name, (kind,) in listed.items()} == dict.fromkeys(listed, "classic")

        refused = subprocess.run(
            [MAILROUTE, "worker", "--processes", "1", "--threads", "1"],
            env={**stack.env, "RABBITMQ_QUEUE_TYPE": "quorum"},
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    said = refused.stdout + refused.stderr
    assert refused.returncode == 3, said[-2000:]
    assert "worker.queue_type_mismatch" in said
    assert "Set RABBITMQ_QUEUE_TYPE=classic to keep using the existing queues" in said
    assert "Moving from classic to quorum queues" in said


def test_a_message_its_workers_keep_dying_with_is_dead_lettered_listed_and_replayable(
    stack_env: dict[str, str], cluster: PrivateCluster, sandbox: SandboxClient
) -> None:
    with on_cluster(stack_env, cluster) as (stack, vhost):
        stack.worker(queues=(queues.DISPATCH,))  # routes; nobody sends yet
        # One comes back to a worker as often as RabbitMQ allows: mailroute fails it itself.
        failed_by_us = queued_on_smtp(stack, vhost, cluster)
        die_with(stack, queues.SMTP, REDELIVERY_LIMIT)
        sender = stack.worker(queues=(queues.SMTP,))
        row = wait_for(lambda: _ended(stack, failed_by_us), timeout=30, what="it to fail")
        assert (row["status"], row["error_code"]) == ("failed", "dead_lettered")
        assert "delivered 11 times and never acknowledged" in row["error_message"]
        wait_for(lambda: dead_listed(stack, failed_by_us), timeout=30, what="it in smtp.XQ")
        sender.stop()
        # One whose last delivery died too: RabbitMQ dead-letters it by itself.
        failed_by_rabbit = queued_on_smtp(stack, vhost, cluster)
        die_with(stack, queues.SMTP, REDELIVERY_LIMIT + 1)
        dead = wait_for(
            lambda: (
                (found := dead_listed(stack, failed_by_us, failed_by_rabbit))
                and len(found) == 2
                and found
            ),
            timeout=30,
            what="both in smtp.XQ",
        )
        assert dead[failed_by_us]["reason"].startswith("RedeliveredTooOften: delivered 11 times")
        assert dead[failed_by_rabbit]["reason"].startswith(
            "RabbitMQ dead-lettered it from smtp: its delivery limit was reached"
        )
        assert _ended(stack, failed_by_rabbit) is None  # still queued: the clock would re-drive it

        replayed = dlq(stack, "replay", "--all", "--queue", queues.SMTP)
        assert replayed.returncode == 0, replayed.stderr
        stack.worker(queues=(queues.SMTP,))
        for email_id in (failed_by_us, failed_by_rabbit):
            row = wait_for(lambda e=email_id: _ended(stack, e), timeout=30, what="the replay")
            assert row["status"] == "sent", row
        assert dead_listed(stack, failed_by_us, failed_by_rabbit) == {}


def test_the_outbox_publisher_loses_no_row_when_the_node_it_publishes_through_dies(
    cluster: PrivateCluster,
) -> None:
    vhost = f"cluster_{uuid.uuid4().hex[:8]}"
    cluster.add_vhost(vhost)
    publisher = PikaPublisher(cluster.url(vhost), "mailroute.events", "quorum")
    sent: list[str] = []

    def publish(count: int) -> None:
        """A batch, tried again until the broker confirms it (the relay's rows wait as long)."""
        batch = [
            OutboxRow(len(sent) + n, queues.SMTP, {"args": [f"row-{len(sent) + n}"]}, "x.y")
            for n in range(count)
        ]
        while True:
            try:
                publisher.publish(batch)
                break
            except BrokerUnavailableError:
                time.sleep(0.1)
        sent.extend(row.args[0] for row in batch)

    try:
        publish(50)  # through the first node, which leads the queue it declared
        [leader] = cluster.queues(vhost, "leader")[queues.SMTP]
        victim = cluster.node(leader)
        cluster.kill(victim)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            publish(10)
            time.sleep(0.05)
    finally:
        publisher.close()
    cluster.start(victim)

    received = drain(cluster, vhost, queues.SMTP)
    assert not set(sent) - set(received), f"{len(set(sent) - set(received))} of {len(sent)} lost"


def _report(figures: dict[str, Any]) -> None:
    """Print the figures (run with -s to see them) and keep them in .run/cluster-figures.json."""
    print("\nRabbitMQ node SIGKILL: " + ", ".join(f"{k}={v}" for k, v in figures.items()))  # noqa: T201
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2, default=str) + "\n")


def test_losing_the_node_that_leads_the_queues_mid_run_loses_and_doubles_nothing(
    stack_env: dict[str, str],
    cluster: PrivateCluster,
    sandbox: SandboxClient,
    google: GoogleSandbox,
) -> None:
    with on_cluster(stack_env, cluster) as (stack, vhost):
        companies = [stack.company() for _ in range(GMAIL_ACCOUNTS)]
        gmail = [(company, stack.connect_gmail(company, google)) for company in companies]
        workers = stack.start("cluster-workers", ["worker", "--processes", "2", "--threads", "8"])
        wait_for(lambda: worker_ready(workers, 2), timeout=60, what="the workers")
        stack.start("cluster-clock", ["clock"])
        load = Load(stack, stack.web(), stack.company(), gmail, EMAILS, PUBLISH_RATE)
        producer = threading.Thread(target=load.run, name="month-end", daemon=True)
        started = time.monotonic()
        producer.start()
        try:
            wait_for(lambda: load.sent() >= KILL_AFTER_SENT, timeout=120, what="sends")
            victim = cluster.node(leaders(cluster, vhost).most_common(1)[0][0])
            sent_at_kill, killed_at = load.sent(), datetime.now(UTC)
            cluster.kill(victim)
            killed = time.monotonic()
            wait_for(
                lambda: victim.node not in leaders(cluster, vhost),
                timeout=60,
                interval=0.5,
                what="new leaders",
            )
            leaders_moved = time.monotonic() - killed
            wait_for(
                lambda: load.sent() >= sent_at_kill + RESTART_AFTER_SENT,
                timeout=180,
                interval=0.5,
                what="sends on two nodes",
            )
            down_for = time.monotonic() - killed
            cluster.start(victim)
            producer.join(timeout=240)
            assert not producer.is_alive(), "the producer could not have everything accepted"
            wait_for(lambda: load.ended() >= EMAILS, timeout=240, interval=1, what="every end")
        finally:
            load.stop.set()
        seconds = time.monotonic() - started
        rows = load.rows()
        copies = received(load, sandbox, google)
        dead = dead_letters(cluster, vhost)

    assert len(load.accepted) == EMAILS
    assert {row["id"] for row in rows} == set(load.accepted.values()), "each accepted has a row"
    assert collections.Counter(row["status"] for row in rows) == {"sent": EMAILS}, "none lost"
    sent_ids = {row["message_id"] for row in rows}
    assert set(copies) == sent_ids, "the sinks received every email, and nothing else"
    flagged = {row["message_id"] for row in rows if row["possible_duplicate"]}
    doubled = {message_id for message_id, n in copies.items() if n > 1}
    assert doubled <= flagged, "every email received twice is flagged possible_duplicate"
    _report(
        {
            "emails": EMAILS,
            "gmail": sum(1 for row in rows if row["route"] == "gmail"),
            "default_sender": sum(1 for row in rows if row["route"] == "default"),
            "sent_at_kill": sent_at_kill,
            "killed": victim.node,
            "lost": EMAILS - len(rows),
            "sent_twice": len(doubled),
            "flagged_possible_duplicate": len(flagged),
            "dead_letters": dead,
            "new_leaders_after_s": round(leaders_moved, 1),
            "recovered_after_s": recovered_after(rows, killed_at),
            "longest_pause_in_sends_s": longest_pause(rows, killed_at),
            "node_down_s": round(down_for, 1),
            "producer_retries": load.retries,
            "seconds": round(seconds, 1),
        }
    )
