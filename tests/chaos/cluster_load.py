"""mailroute on the chaos tests' RabbitMQ cluster: a stack of its own on a fresh vhost
(`on_cluster`); a month-end run, emails accepted over HTTP and through Python's `publish`, From
several companies' Gmail and the default sender, at a steady rate, each retried (same event id,
so never doubled) until it is accepted, and the reading of how it all ended, from PostgreSQL and
from what "Gmail" and the SMTP sink received; and the dead-letter helpers: a message whose
workers die with it, and `mailroute dlq`."""

from __future__ import annotations

import collections
import contextlib
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pika
import psycopg

from mailroute.bootstrap import build_producer
from mailroute.core.errors import BrokerUnavailableError
from mailroute.events import queues
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.chaos.rabbit_cluster import PrivateCluster
from tests.conftest import SandboxClient, TestCompany
from tests.private_stack import PrivateStack, private_stack
from tests.stack import MAILROUTE, wait_for


@dataclass
class Load:
    stack: PrivateStack
    api: httpx.Client
    default: TestCompany  # its emails go by the default sender
    gmail: list[tuple[TestCompany, str]]  # companies with their connected Gmail account
    emails: int
    rate: float  # accepted per second
    gmail_every: tuple[int, int] = (2, 5)  # 2 of every 5 emails From Gmail
    accepted: dict[int, str] = field(default_factory=dict)  # request number -> email id
    retries: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def request(self, i: int) -> tuple[TestCompany, dict[str, Any]]:
        taken, every = self.gmail_every
        if i % every < taken:
            company, sender = self.gmail[i % len(self.gmail)][0], "gmail"
        else:
            company, sender = self.default, "default"
        return company, {
            "event_id": f"cluster-{i}",
            "kind": "invoice",
            "sender": sender,
            "to": [company.rcpt()],
            "subject": f"Invoice {i}",
            "text": "Hello,\nyour invoice is attached.\n",
        }

    def run(self) -> None:
        """Even requests over HTTP, odd ones through `publish`; each until accepted."""
        producer = build_producer(self.stack.settings)
        try:
            started = time.monotonic()
            for i in range(self.emails):
                pause = started + i / self.rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                while not self.stop.is_set() and i not in self.accepted:
                    company, body = self.request(i)
                    try:
                        if i % 2 == 0:
                            self.accepted[i] = self._post(company, body)
                        else:
                            accepted = producer.intake.publish({**body, "company_id": company.id})
                            self.accepted[i] = accepted.email_id
                    except (BrokerUnavailableError, httpx.HTTPError, psycopg.OperationalError):
                        self.retries += 1
                        time.sleep(0.5)
        finally:
            producer.close()

    def _post(self, company: TestCompany, body: dict[str, Any]) -> str:
        response = self.api.post("/v1/emails", json=body, headers=company.headers("sender"))
        response.raise_for_status()
        email_id: str = response.json()["id"]
        return email_id

    def companies(self) -> list[str]:
        return [self.default.id, *(company.id for company, _ in self.gmail)]

    def rows(self) -> list[dict[str, Any]]:
        url = self.stack.settings.database_url
        with psycopg.connect(url, connect_timeout=5, row_factory=psycopg.rows.dict_row) as conn:
            return conn.execute(
                "SELECT id::text, status, error_code, message_id, possible_duplicate, route,"
                " created_at, sent_at FROM emails WHERE company_id = ANY(%s::uuid[])",
                (self.companies(),),
            ).fetchall()

    def ended(self) -> int:
        return sum(1 for row in self.rows() if row["status"] in ("sent", "failed"))

    def sent(self) -> int:
        return sum(1 for row in self.rows() if row["status"] == "sent")


def received(load: Load, sandbox: SandboxClient, google: GoogleSandbox) -> collections.Counter[str]:
    """How many copies of each Message-ID "Gmail" and the SMTP sink received for the run."""
    copies: collections.Counter[str] = collections.Counter(
        m["message_id"] for m in sandbox.smtp_messages(rcpt=load.default.rcpt())
    )
    for _, account in load.gmail:
        copies.update(m["message_id"] for m in google.gmail_sent(account, content=False))
    return copies


def recovered_after(rows: list[dict[str, Any]], killed_at: datetime) -> float | None:
    """Seconds from the kill to the first send of an email accepted after it: intake, broker,
    worker and provider all working again."""
    after = [r["sent_at"] for r in rows if r["created_at"] > killed_at and r["sent_at"]]
    return round((min(after) - killed_at).total_seconds(), 1) if after else None


def longest_pause(rows: list[dict[str, Any]], since: datetime) -> float:
    """The longest time without any send, from `since` on."""
    times = sorted(r["sent_at"] for r in rows if r["sent_at"] and r["sent_at"] >= since)
    gaps = [(b - a).total_seconds() for a, b in zip([since, *times], times, strict=False)]
    return round(max(gaps, default=0.0), 1)


@contextlib.contextmanager
def on_cluster(
    stack_env: dict[str, str], cluster: PrivateCluster, **env: str
) -> Iterator[tuple[PrivateStack, str]]:
    """A database of its own and a fresh vhost on the cluster, RABBITMQ_URL listing every node."""
    vhost = f"cluster_{uuid.uuid4().hex[:8]}"
    cluster.add_vhost(vhost)
    with private_stack(stack_env, RABBITMQ_URL=cluster.url(vhost), **env) as stack:
        yield stack, vhost


def die_with(stack: PrivateStack, queue: str, times: int) -> None:
    """What RabbitMQ sees of a worker killed with SIGKILL while it held the message: the
    delivery never acknowledged, the connection gone. `times` times over."""
    for _ in range(times):
        connection = pika.BlockingConnection(
            [pika.URLParameters(url) for url in stack.settings.rabbitmq_urls]
        )
        method, _properties, _body = connection.channel().basic_get(queue, auto_ack=False)
        assert method is not None, f"no message on {queue}"
        connection.close()


def dlq(stack: PrivateStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MAILROUTE, "dlq", *args],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def dead_listed(stack: PrivateStack, *email_ids: str) -> dict[str, dict[str, Any]]:
    """`mailroute dlq list` of smtp.XQ: the email id each dead message carried -> its line."""
    listed = dlq(stack, "list", "--queue", queues.SMTP)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    return {e: row for row in rows for e in email_ids if e in row["args"]} if rows else {}


def queued_on_smtp(stack: PrivateStack, vhost: str, cluster: PrivateCluster) -> str:
    """An email routed to the `smtp` queue, where no worker consumes yet; its id."""
    company = stack.company()
    email_id = stack.send(company)
    wait_for(
        lambda: (
            (stack.email_row(email_id) or {}).get("status") == "queued"
            and cluster.queues(vhost, "messages_ready")[queues.SMTP] == ["1"]
        ),
        timeout=30,
        what="the email queued on smtp",
    )
    return email_id
