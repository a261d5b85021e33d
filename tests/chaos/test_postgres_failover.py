"""A PostgreSQL failover loses no accepted email: the primary is killed with SIGKILL mid-run,
the synchronous standby is promoted, and every mailroute process finds the new primary by
itself through the multi-host DATABASE_URL.

The cluster is the test's own (tests/chaos/replicated_postgres.py); mailroute's real web,
worker and clock processes run on it, with a RabbitMQ vhost of the test's own. The producer
posts 1,000 emails over HTTP and, as a careful client does, posts again with the same event id
whatever was not answered 202: a POST cut by the failover may or may not have committed, and
only its event id makes the second one safe.
"""

from __future__ import annotations

import collections
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.migrations import apply_migrations, ensure_database
from mailroute.adapters.db.pool import connection_options, make_pool
from mailroute.config.settings import Settings
from mailroute.core.mime import email_id_for
from tests.chaos.replicated_postgres import ReplicatedPostgres, replicated_postgres
from tests.conftest import SandboxClient, worker_ready
from tests.stack import MAILROUTE, RUN_ID, Process, free_port, http_ready, wait_for

pytestmark = pytest.mark.chaos

EMAILS = 1000
KILL_AFTER_ACCEPTED = 300
POSTS_PER_SECOND = 100.0  # the producer is still posting while the primary is away
POSTERS = 4
DETECTED_AFTER_SECONDS = 2.0  # a failover manager's time to decide the primary is gone
# Two requests whose statement is held (a trigger sleeps on the first primary only) when the
# primary is killed: one POST's INSERT, and one send's UPDATE to `sent`, after the SMTP server
# took the message.
HELD_POST, HELD_SEND = "failover-held-post", "failover-held-send"
HELD = (HELD_POST, HELD_SEND)
HOLD = """
CREATE FUNCTION hold_on_the_first_primary() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF inet_server_port() = {port} AND (
      (TG_OP = 'INSERT' AND NEW.event_id = {held_post})
      OR (TG_OP = 'UPDATE' AND NEW.status = 'sent' AND NEW.event_id = {held_send})) THEN
    PERFORM pg_sleep(120);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER hold_on_the_first_primary BEFORE INSERT OR UPDATE ON emails
  FOR EACH ROW EXECUTE FUNCTION hold_on_the_first_primary();
"""
FIGURES = Path(__file__).resolve().parents[2] / ".run" / "failover-figures.json"


@dataclass
class Stack:
    cluster: ReplicatedPostgres
    env: dict[str, str]
    url: str
    company_id: str
    sender_key: str
    rcpt: str
    base_url: str
    processes: list[Process] = field(default_factory=list)

    def read(self, query: str, *params: object) -> list[dict[str, Any]]:
        """Rows read on a fresh connection to whichever host takes writes now."""
        conninfo = make_conninfo(self.url, **connection_options(self.url))
        with psycopg.connect(conninfo, row_factory=dict_row) as conn:
            return conn.execute(query, params).fetchall()

    def rows(self) -> list[dict[str, Any]]:
        """The company's emails."""
        return self.read(
            "SELECT id::text, event_id, status, error_code, message_id, possible_duplicate,"
            " extract(epoch FROM updated_at)::float AS updated_at"
            " FROM emails WHERE company_id = %s",
            self.company_id,
        )

    def unpublished(self) -> int:
        """Outbox rows (tasks and outcome events) not published yet."""
        return int(
            self.read("SELECT count(*) FROM outbox_events WHERE published_at IS NULL")[0]["count"]
        )

    def pids(self) -> dict[str, set[int]]:
        """Each process and the processes it forked (dramatiq's worker processes)."""
        found = {}
        for process in self.processes:
            assert process.alive(), f"{process.name} exited:\n{process.log_tail()}"
            children = psutil.Process(process.pid).children(recursive=True)
            found[process.name] = {process.pid, *(child.pid for child in children)}
        return found


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, check=True)


@pytest.fixture
def stack(stack_env: dict[str, str], sandbox: SandboxClient) -> Iterator[Stack]:
    vhost = f"mailroute_failover_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    with replicated_postgres() as cluster:
        url = cluster.url("mailroute")
        ensure_database(url)  # through the `postgres` database of the same two hosts
        apply_migrations(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                sql.SQL(HOLD).format(
                    port=cluster.primary.port, held_post=HELD_POST, held_send=HELD_SEND
                )
            )
        pool = make_pool(Settings.from_env({"DATABASE_URL": url}), max_size=1)
        pool.open(wait=True, timeout=10)
        companies = PostgresCompanies(pool)
        company = companies.create("Failover Ltd", "billing@failover.example")
        sender_key = companies.create_api_key(company.id, "sender")
        pool.close()
        _rabbitmqctl("add_vhost", vhost)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = {
            **stack_env,
            "DATABASE_URL": url,
            "RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
            "WEB_PORT": str(port),
            "PUBLIC_BASE_URL": base_url,
        }
        rcpt = f"failover+{company.id[:8]}@example.com"
        run = Stack(cluster, env, url, company.id, sender_key, rcpt, base_url)
        try:
            _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
            _start(run)
            yield run
        finally:
            for process in run.processes:
                process.stop()
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)


def _start(run: Stack) -> None:
    web = Process("failover-web", ["web"], run.env).start()
    workers = ["worker", "--processes", "2", "--threads", "8"]
    worker = Process("failover-worker", workers, run.env).start()
    clock = Process("failover-clock", ["clock"], run.env).start()
    run.processes += [web, worker, clock]
    wait_for(http_ready(run.base_url + "/healthz"), timeout=30, what="the web app")
    wait_for(lambda: worker_ready(worker, 2), timeout=60, what="the worker processes")


@dataclass
class Producer:
    """Posts EMAILS requests at POSTS_PER_SECOND from POSTERS threads; each request is posted
    again, with its event id, until it is answered 202."""

    run: Stack
    accepted: dict[str, tuple[float, float]] = field(default_factory=dict)  # started, answered
    refused: list[tuple[str, str]] = field(default_factory=list)  # event id, why
    lock: threading.Lock = field(default_factory=threading.Lock)

    def post_all(self) -> list[threading.Thread]:
        started = time.monotonic()
        due = [(started + i / POSTS_PER_SECOND, f"failover-{i}") for i in range(EMAILS)]
        return [self._posting(due[n::POSTERS]) for n in range(POSTERS)]

    def post_each(self, event_ids: tuple[str, ...]) -> list[threading.Thread]:
        return [self._posting([(0.0, event_id)]) for event_id in event_ids]

    def _posting(self, due: list[tuple[float, str]]) -> threading.Thread:
        thread = threading.Thread(target=self._post, args=(due,))
        thread.start()
        return thread

    def _post(self, due: list[tuple[float, str]]) -> None:
        headers = {"Authorization": f"Bearer {self.run.sender_key}"}
        with httpx.Client(base_url=self.run.base_url, headers=headers, timeout=45.0) as http:
            for at, event_id in due:
                time.sleep(max(0.0, at - time.monotonic()))
                self._until_accepted(http, event_id)

    def _until_accepted(self, http: httpx.Client, event_id: str) -> None:
        request = {
            "event_id": event_id,
            "sender": "default",
            "to": [self.run.rcpt],
            "subject": f"Invoice {event_id}",
            "text": "Hello",
        }
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            began = time.monotonic()
            try:
                answer = http.post("/v1/emails", json=request)
                why = f"{answer.status_code} {answer.text[:80]}"
            except httpx.HTTPError as exc:
                answer, why = None, type(exc).__name__
            with self.lock:
                if answer is not None and answer.status_code == 202:
                    self.accepted[event_id] = (began, time.monotonic())
                    return
                self.refused.append((event_id, why))
            time.sleep(0.2)


def test_a_pool_takes_the_writable_host_and_serves_again_once_the_standby_is_promoted() -> None:
    """Listed second, the primary is still the one written to; killed, the pool's callers
    wait (rather than fail on the connections it broke) and are served at the pool's next
    attempt after the promotion, never more than a couple of seconds later."""
    with replicated_postgres() as cluster:
        url = cluster.url("postgres", standby_first=True)
        pool = make_pool(Settings.from_env({"DATABASE_URL": url}), min_size=4, max_size=4)
        pool.open(wait=True, timeout=10)
        try:
            with pool.connection() as conn:
                assert conn.info.port == cluster.primary.port
                conn.execute("CREATE TABLE writes (at float NOT NULL)")
            writes: list[float] = []
            failures: list[tuple[float, str]] = []
            stop = threading.Event()

            def write() -> None:
                while not stop.wait(0.02):
                    try:
                        with pool.connection() as conn:
                            conn.execute("INSERT INTO writes VALUES (%s)", (time.monotonic(),))
                        writes.append(time.monotonic())
                    except psycopg.Error as exc:
                        failures.append((time.monotonic(), type(exc).__name__))

            writers = [threading.Thread(target=write) for _ in range(4)]
            for writer in writers:
                writer.start()
            try:
                failover = cluster.fail_over(detected_after=8.0)  # past one reconnect backoff
                wait_for(lambda: [t for t in writes if t > failover.killed], timeout=30)
            finally:
                stop.set()
                for writer in writers:
                    writer.join()
            resumed = min(t for t in writes if t > failover.killed) - failover.promoted
            _report(
                "pool through a failover",
                {
                    "standby_took_writes_after_s": round(failover.promotion_seconds, 1),
                    "served_after_promotion_s": round(resumed, 2),
                    "failed_writes": [
                        (round(at - failover.killed, 2), kind) for at, kind in failures
                    ],
                },
            )
            assert resumed < 4.0, f"served {resumed:.1f} s after the promotion"
            assert [f for f in failures if f[0] > failover.promoted] == []
            held = [pool.getconn() for _ in range(4)]
            assert {conn.info.port for conn in held} == {cluster.standby.port}
            for conn in held:
                pool.putconn(conn)
        finally:
            pool.close()


def test_a_primary_killed_mid_run_fails_over_to_the_standby_and_loses_no_accepted_email(
    stack: Stack, sandbox: SandboxClient
) -> None:
    before = stack.pids()
    producer = Producer(stack)
    started = time.monotonic()
    threads = producer.post_all()
    wait_for(lambda: len(producer.accepted) >= KILL_AFTER_ACCEPTED, timeout=60, what="posts")
    threads += producer.post_each(HELD)
    wait_for(lambda: _held_in_flight(stack) == len(HELD), timeout=30, what="the held statements")
    at_kill = len(producer.accepted), sum(1 for row in stack.rows() if row["status"] == "sent")
    failover = stack.cluster.fail_over(DETECTED_AFTER_SECONDS)
    for thread in threads:
        thread.join(timeout=180)
    emails = EMAILS + len(HELD)
    assert len(producer.accepted) == emails, "every request was answered 202 in the end"
    wait_for(
        lambda: sum(row["status"] in ("sent", "failed") for row in stack.rows()) >= emails,
        timeout=120,
        interval=0.5,
        what=f"all {emails} emails to end",
    )
    wait_for(lambda: stack.unpublished() == 0, timeout=60, what="the outbox to be relayed")
    rows = stack.rows()
    by_event = {row["event_id"]: row for row in rows}
    copies = collections.Counter(m["message_id"] for m in sandbox.smtp_messages(rcpt=stack.rcpt))
    refused = sorted({event_id for event_id, _ in producer.refused})

    assert stack.pids() == before, "no process was restarted, none died"
    assert len(rows) == emails, "one email per event id: no accepted email lost, none doubled"
    assert {row["id"] for row in rows} == {
        email_id_for(stack.company_id, event_id) for event_id in producer.accepted
    }
    assert [row for row in rows if row["status"] != "sent"] == [], "every 202 ends sent"
    for row in rows:
        assert copies[row["message_id"]] >= 1, "every email recorded as sent reached the sink"
        if copies[row["message_id"]] > 1:
            assert row["possible_duplicate"], "an email sent twice is flagged"
    for event_id in refused:  # each posted again with its event id: one email, sent once
        row = by_event[event_id]
        assert copies[row["message_id"]] == 1 or row["possible_duplicate"], event_id
    # The POST cut mid-transaction was refused, posted again with its event id, and sent once.
    assert HELD_POST in refused
    assert copies[by_event[HELD_POST]["message_id"]] == 1
    # The send cut between the SMTP server's acceptance and its commit was sent again: the one
    # window the design leaves, and the row says so.
    assert copies[by_event[HELD_SEND]["message_id"]] == 2
    assert by_event[HELD_SEND]["possible_duplicate"]

    first_write = min(a for s, a in producer.accepted.values() if s >= failover.killed)
    first_send = min(r["updated_at"] for r in rows if r["updated_at"] > failover.killed_wall)
    _report(
        "PostgreSQL failover",
        {
            "emails": emails,
            "accepted_at_kill": at_kill[0],
            "sent_at_kill": at_kill[1],
            "standby_took_writes_after_s": round(failover.promotion_seconds, 1),
            "seconds_without_writes": round(first_write - failover.killed, 1),
            "intake_resumed_after_promotion_s": round(first_write - failover.promoted, 1),
            "sending_resumed_after_kill_s": round(first_send - failover.killed_wall, 1),
            "refused_posts": len(producer.refused),
            "refused_event_ids": len(refused),
            "messages_failed_and_retried": _failed_messages(stack),
            "sent": sum(row["status"] == "sent" for row in rows),
            "lost": emails - len(rows),
            "sent_twice": sum(1 for n in copies.values() if n > 1),
            "flagged_possible_duplicate": sum(bool(row["possible_duplicate"]) for row in rows),
            "seconds": round(time.monotonic() - started, 1),
        },
        producer.refused,
    )
    _cli_sends_through_the_new_primary(stack, sandbox)


def _held_in_flight(stack: Stack) -> int:
    """Statements of mailroute's sleeping in the hold trigger on the primary."""
    with psycopg.connect(stack.cluster.primary.url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'"
        ).fetchone()
    return int(row[0]) if row else 0


def _failed_messages(stack: Stack) -> int:
    """Messages whose work failed (a statement cut by the failover) and went back for a retry,
    as the workers logged them."""
    worker = next(p for p in stack.processes if p.name == "failover-worker")
    lines = worker.log_path.read_text(errors="replace").splitlines()
    done = [json.loads(line) for line in lines if '"message.done"' in line]
    return sum(1 for line in done if line.get("outcome") == "error")


def _cli_sends_through_the_new_primary(stack: Stack, sandbox: SandboxClient) -> None:
    """A CLI process started after the failover finds the new primary with the same URL."""
    rcpt = f"cli+{stack.company_id[:8]}@example.com"
    args = ["send", "--company", stack.company_id, "--to", rcpt, "--sender", "default"]
    args += ["--kind", "invoice", "--subject", "After the failover", "--text", "Hello"]
    done = subprocess.run(
        [MAILROUTE, *args], env=stack.env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    wait_for(lambda: sandbox.smtp_messages(rcpt=rcpt), timeout=30, what="the CLI's email")


def _report(
    name: str, figures: dict[str, Any], refused: list[tuple[str, str]] | None = None
) -> None:
    """Print the figures (run with -s to see them) and keep them in .run/failover-figures.json."""
    print(f"\n{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))  # noqa: T201
    for event_id, why in refused or []:
        print(f"  refused {event_id}: {why}")  # noqa: T201
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    recorded = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    recorded[name] = {**figures, "refused": refused} if refused else figures
    FIGURES.write_text(json.dumps(recorded, indent=2) + "\n")
