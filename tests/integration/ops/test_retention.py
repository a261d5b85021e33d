"""mailroute stays small: an ended email loses its bodies and attachments after its retention
(its record stays, and it is never sent again), the clock prunes in small batches only what is
old and final, and a deleted company leaves no row behind.

On real PostgreSQL: a live stack of its own (web, worker, clock) whose retention is seconds,
for what the processes do; a quiet database of its own (no process), for the prunes and the
company deletion, where each row's age is set by the test.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import dramatiq
import httpx
import psycopg
import pytest

from mailroute.adapters.db.pool import Pool
from mailroute.adapters.db.retention import PostgresRetention
from mailroute.bootstrap.adapters import connection_store, gmail_connections, outbox_relay
from mailroute.bootstrap.broker import rabbitmq_broker
from mailroute.config.settings import Settings
from mailroute.core.retention import Prune, RetentionPolicy
from mailroute.events import queues
from mailroute.services.retention import RetentionPruner
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import SandboxClient, TestCompany, email_request, final_email
from tests.integration.ops.retention_rows import (
    REMAINING,
    SEED,
    attachment_bytes,
    company_with_everything,
    execute,
    found_in,
    rows_of,
    script,
    stored_email,
)
from tests.private_stack import PrivateStack, private_stack
from tests.stack import MAILROUTE, wait_for

# About 4.3 s: the live stack's clock purges and prunes within seconds of the outcome.
SECONDS_OF_RETENTION = "0.00005"
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def live(stack_env: dict[str, str], sandbox: SandboxClient) -> Iterator[PrivateStack]:
    """web, worker and clock on a database of their own, with a retention of seconds."""
    retention = {"RETENTION_DAYS": SECONDS_OF_RETENTION, "OUTBOX_RETENTION_DAYS": "0.00005"}
    with private_stack(stack_env, **retention) as stack:
        stack.worker()
        clock = stack.start("retention-clock", ["clock"])
        wait_for(
            lambda: "clock.started" in clock.log_path.read_text(errors="replace"),
            timeout=30,
            what="the clock",
        )
        yield stack


@pytest.fixture(scope="module")
def live_api(live: PrivateStack) -> httpx.Client:
    return live.web()


@pytest.fixture
def quiet(stack_env: dict[str, str], sandbox: SandboxClient) -> Iterator[PrivateStack]:
    """A database of the test's own, and no mailroute process: nothing moves but the test."""
    with private_stack(stack_env) as stack:
        yield stack


@pytest.fixture
def google(settings: Settings, sandbox: SandboxClient) -> Iterator[GoogleSandbox]:
    with GoogleSandbox(settings.sandbox_base_url) as client:
        yield client


# -- (a) past its retention, an email's content is gone from every table ----------------------


def _reject_on_dispatch(stack: PrivateStack, payload: dict[str, Any]) -> str:
    """A producer's message the dispatcher cannot accept (an unknown company), holding the
    whole event; the id of its message."""
    broker = rabbitmq_broker(stack.settings)
    try:
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=queues.DISPATCH,
            actor_name=queues.DISPATCH_EMAIL,
            args=(payload,),
            kwargs={},
            options={},
        )
        broker.enqueue(message)
    finally:
        broker.close()
    return message.message_id


def test_an_email_past_its_retention_keeps_its_record_and_nothing_of_its_content_anywhere(
    live: PrivateStack, live_api: httpx.Client
) -> None:
    company = live.company()
    marker = f"confidential-{uuid.uuid4().hex}"
    pdf = attachment_bytes()
    encoded = base64.b64encode(pdf).decode()
    request = email_request(
        company,
        text=f"Dear Jane, {marker} is your code.",
        html=f"<p>Dear Jane, <b>{marker}</b> is your code.</p>",
        attachments=[
            {
                "filename": "statement.pdf",
                "content_type": "application/pdf",
                "content_base64": encoded,
            }
        ],
    )
    accepted = live_api.post("/v1/emails", json=request, headers=company.headers())
    assert accepted.status_code == 202, accepted.text
    email_id = accepted.json()["id"]
    rejected = _reject_on_dispatch(live, {**request, "company_id": str(uuid.uuid4())})
    wait_for(lambda: not _gone(live.pool, rejected), what="the rejected message recorded")
    slices = (pdf[1000:1064], pdf[-100:-36])
    needles = [marker, encoded[1200:1264]]
    assert {
        "emails.text_body",
        "emails.html_body",
        "attachments.content",
        "rejected_messages.payload",
    } <= set(found_in(live.pool, needles, slices))
    sent = final_email(live_api, company, email_id)
    assert sent["status"] == "sent"

    purged = wait_for(
        lambda: (body := _get(live_api, company, email_id))["content_purged_at"] and body,
        timeout=60,
        what="the email's content purged",
    )
    wait_for(lambda: _gone(live.pool, rejected), timeout=60, what="the rejected message pruned")

    assert found_in(live.pool, needles, slices) == []
    assert (purged["status"], purged["subject"], purged["to"]) == (
        "sent",
        sent["subject"],
        sent["to"],
    )
    assert purged["sent_at"] == sent["sent_at"]
    [stored] = execute(
        live.pool,
        "SELECT e.text_body, e.html_body, a.filename, a.content_type, a.size, a.sha256,"
        " a.content FROM emails e JOIN attachments a ON a.email_id = e.id WHERE e.id = %s",
        (email_id,),
    )
    assert stored == {
        "text_body": None,
        "html_body": None,
        "filename": "statement.pdf",
        "content_type": "application/pdf",
        "size": len(pdf),
        "sha256": hashlib.sha256(pdf).hexdigest(),
        "content": None,
    }


def _get(api: httpx.Client, company: TestCompany, email_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/emails/{email_id}", headers=company.headers())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _gone(pool: Pool, rejected_message_id: str) -> bool:
    return not execute(
        pool, "SELECT 1 FROM rejected_messages WHERE message_id = %s", (rejected_message_id,)
    )


def test_a_failed_email_past_its_retention_is_refused_a_retry_naming_the_rule(
    live: PrivateStack, live_api: httpx.Client, sandbox: SandboxClient
) -> None:
    company = live.company()
    sandbox.smtp_fail_next(1, 550, "mailbox unavailable")
    accepted = live_api.post("/v1/emails", json=email_request(company), headers=company.headers())
    email_id = accepted.json()["id"]
    assert final_email(live_api, company, email_id)["status"] == "failed"
    wait_for(
        lambda: _get(live_api, company, email_id)["content_purged_at"],
        timeout=60,
        what="the failed email's content purged",
    )

    refused = live_api.post(f"/v1/emails/{email_id}/retry", headers=company.headers())

    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "content_purged"
    assert [(d["field"], d["rule"]) for d in error["fields"]] == [
        ("content_purged_at", "content_purged")
    ]
    assert _get(live_api, company, email_id)["status"] == "failed"


# -- (b, c) what has not ended, or ended lately, keeps its content ---------------------------


def _aged(
    stack: PrivateStack, email_id: str, status: str, ago: timedelta, error_code: str | None = None
) -> None:
    execute(
        stack.pool,
        "UPDATE emails SET status = %s, error_code = %s, updated_at = now() - %s,"
        " sent_at = CASE WHEN %s = 'sent' THEN now() - %s END,"
        " failed_at = CASE WHEN %s = 'failed' THEN now() - %s END WHERE id = %s",
        (status, error_code, ago, status, ago, status, ago, email_id),
    )


def _content(stack: PrivateStack, email_id: str) -> dict[str, Any]:
    [row] = execute(
        stack.pool,
        "SELECT e.text_body IS NOT NULL AS text, e.html_body IS NOT NULL AS html,"
        " bool_and(a.content IS NOT NULL) AS attachments, e.content_purged_at IS NOT NULL"
        " AS purged FROM emails e JOIN attachments a ON a.email_id = e.id WHERE e.id = %s"
        " GROUP BY e.id",
        (email_id,),
    )
    return row


KEPT = {"text": True, "html": True, "attachments": True, "purged": False}
PURGED = {"text": False, "html": False, "attachments": False, "purged": True}


def _prune_until_done(stack: PrivateStack, policy: RetentionPolicy) -> None:
    pruner = RetentionPruner(PostgresRetention(stack.pool), policy)
    while any(pruner.prune_once().values()):
        pass


@pytest.mark.parametrize("status", ["accepted", "queued", "sending", "retrying"])
def test_an_email_that_has_not_ended_keeps_its_content_however_old(
    quiet: PrivateStack, status: str
) -> None:
    company = quiet.company()
    email_id = stored_email(quiet, company)
    _aged(quiet, email_id, status, timedelta(days=3650))

    _prune_until_done(quiet, RetentionPolicy(content=DAY))

    assert _content(quiet, email_id) == KEPT


def test_an_email_within_its_retention_is_untouched_and_one_past_it_is_purged(
    quiet: PrivateStack,
) -> None:
    company = quiet.company()
    recent, old = stored_email(quiet, company), stored_email(quiet, company)
    dead_recent, dead_old = stored_email(quiet, company), stored_email(quiet, company)
    _aged(quiet, recent, "sent", timedelta(hours=23))
    _aged(quiet, old, "failed", timedelta(hours=25), "smtp_rejected")
    # A dead-lettered email may be replayed while RabbitMQ keeps its dead message.
    _aged(quiet, dead_recent, "failed", timedelta(days=3), "dead_lettered")
    _aged(quiet, dead_old, "failed", timedelta(days=8), "dead_lettered")

    _prune_until_done(quiet, RetentionPolicy(content=DAY, dead_message_ttl=timedelta(days=7)))

    assert _content(quiet, recent) == KEPT
    assert _content(quiet, dead_recent) == KEPT
    assert _content(quiet, old) == PURGED
    assert _content(quiet, dead_old) == PURGED


# -- (d) the clock's prunes: only what is old and final, small batches a tick ----------------

POLICY = RetentionPolicy(
    content=DAY,
    outbox=timedelta(hours=1),
    dead_message_ttl=timedelta(days=7),
    batch=3,
    budget_seconds=0,  # one statement per thing a tick
)


def _seed(stack: PrivateStack) -> None:
    company = stack.company()
    [admin] = execute(stack.pool, "SELECT id FROM users WHERE company_id = %s", (company.id,))
    params = {"company": company.id, "user": admin["id"], "endpoint": str(uuid.uuid4())}
    script(stack.pool, SEED, params)


def _remaining(stack: PrivateStack) -> dict[str, set[str]]:
    return {
        table: {row["tag"] for row in execute(stack.pool, query)}
        for table, query in REMAINING.items()
    }


def test_the_prunes_delete_only_what_is_old_and_final_a_few_small_batches_a_tick(
    quiet: PrivateStack,
) -> None:
    _seed(quiet)
    before = _remaining(quiet)
    pruner = RetentionPruner(PostgresRetention(quiet.pool), POLICY)

    first = pruner.prune_once()
    second = pruner.prune_once()
    third = pruner.prune_once()
    fourth = pruner.prune_once()

    assert first[Prune.PUBLISHED_OUTBOX] == second[Prune.PUBLISHED_OUTBOX] == 3
    assert third[Prune.PUBLISHED_OUTBOX] == 1
    assert max(first.values()) <= POLICY.batch
    assert not any(fourth.values())
    after = _remaining(quiet)
    assert all(tag.startswith("stay-") for tags in after.values() for tag in tags), after
    assert {
        table: {t for t in tags if t.startswith("stay-")} for table, tags in before.items()
    } == after


def _finishes_within(seconds: float, work: Callable[[], None]) -> bool:
    done = threading.Event()

    def run() -> None:
        work()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(seconds)


def test_a_prune_skips_the_rows_another_transaction_holds_and_takes_them_later(
    quiet: PrivateStack,
) -> None:
    _seed(quiet)
    pruner = RetentionPruner(PostgresRetention(quiet.pool), POLICY)
    with psycopg.connect(quiet.settings.database_url) as holder:
        holder.execute(
            "SELECT 1 FROM outbox_events WHERE payload ->> 'tag' = 'go-outbox-1' FOR UPDATE"
        )

        def prune_all() -> None:
            while pruner.prune_once()[Prune.PUBLISHED_OUTBOX]:
                pass

        assert _finishes_within(10, prune_all), "a prune waited for a row another held"
        assert "go-outbox-1" in _remaining(quiet)["outbox_events"]
    pruner.prune_once()

    assert not {t for t in _remaining(quiet)["outbox_events"] if t.startswith("go-")}


# -- (e) a deleted company leaves no row behind, and another company keeps all of its own -----


def _delete(stack: PrivateStack, *args: str, answer: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MAILROUTE, "company", "delete", *args],
        env=stack.env,
        input=answer,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_deleted_company_leaves_no_row_and_its_grant_is_revoked_at_google(
    quiet: PrivateStack, google: GoogleSandbox
) -> None:
    gone = company_with_everything(quiet, google)
    kept = company_with_everything(quiet, google)
    company_id, account = gone[0], gone[1]
    before, others_before = rows_of(quiet.pool, company_id), rows_of(quiet.pool, kept[0])
    assert [t for t, n in before.items() if not n] == [], "seed a row in each of these tables"

    deleted = _delete(quiet, "--id", company_id, "--yes")

    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout) == {
        "id": company_id,
        "deleted": True,
        "gmail_revocation": {"address": account, "google_confirmed": True, "problem": None},
    }
    assert [c["confirmed"] for c in google.revocations(account)] == [True]
    assert set(rows_of(quiet.pool, company_id).values()) == {0}
    assert found_in(quiet.pool, gone) == []
    assert rows_of(quiet.pool, kept[0]) == others_before
    assert found_in(quiet.pool, [kept[0]]) != []


def test_deleting_a_company_asks_first_and_refuses_what_it_does_not_know(
    quiet: PrivateStack,
) -> None:
    company = quiet.company()

    declined = _delete(quiet, "--id", company.id, answer="n\n")
    unknown = _delete(quiet, "--id", str(uuid.uuid4()), "--yes")
    malformed = _delete(quiet, "--id", "acme", "--yes")

    assert (declined.returncode, "Aborted" in declined.stderr) == (1, True)
    assert rows_of(quiet.pool, company.id)["companies"] == 1
    assert (unknown.returncode, "no company with id" in unknown.stderr) == (1, True)
    assert (malformed.returncode, "--id" in malformed.stderr) == (2, True)


def test_a_revocation_google_did_not_confirm_outlives_the_company_until_google_confirms(
    quiet: PrivateStack, google: GoogleSandbox
) -> None:
    gone = company_with_everything(quiet, google)
    company_id, account = gone[0], gone[1]
    [subject] = execute(
        quiet.pool,
        "SELECT google_subject FROM mailbox_connections WHERE company_id = %s",
        (company_id,),
    )
    google.add_fault(503, target="revoke", account=account)

    deleted = _delete(quiet, "--id", company_id, "--yes")

    assert deleted.returncode == 0, deleted.stderr
    revocation = json.loads(deleted.stdout)["gmail_revocation"]
    assert (revocation["google_confirmed"], revocation["problem"] is not None) == (False, True)
    waiting = (
        "SELECT company_id, address, status FROM pending_revocations WHERE google_subject = %s"
    )
    assert execute(quiet.pool, waiting, (subject["google_subject"],)) == [
        {"company_id": None, "address": None, "status": "pending"}
    ]
    execute(quiet.pool, "UPDATE pending_revocations SET next_attempt_at = now()")
    relay = outbox_relay(quiet.settings, quiet.pool)
    connections = connection_store(quiet.settings, quiet.pool)
    try:
        gmail = gmail_connections(quiet.settings, quiet.pool, relay, connections)
        assert gmail.retry_revocations() == 1  # the clock's job; Google confirms now
    finally:
        relay.close()
    _prune_until_done(quiet, RetentionPolicy())

    assert execute(quiet.pool, waiting, (subject["google_subject"],)) == []
    assert [c["confirmed"] for c in google.revocations(account)][-1] is True
    assert found_in(quiet.pool, gone) == []
