"""An email a killed worker (SIGKILL) leaves `sending` or `queued` still ends: sent when its
message comes back, re-driven by the clock when the message was lost too, and failed
`stalled`, with the reason in `GET /v1/emails/{id}` and an `EmailFailed`, when the clock's
re-drives came to nothing.

Each test runs on a database and vhost of its own (`tests.private_stack`) with workers it
starts and kills, and the real clock process; "20 minutes later" is written into the row's
times, as the clock would find it then."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mailroute.config.settings import Settings
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import SandboxClient, TestCompany
from tests.private_stack import PrivateStack, private_stack
from tests.stack import Process, wait_for


@pytest.fixture
def stack(stack_env: dict[str, str], sandbox: SandboxClient) -> Iterator[PrivateStack]:
    with private_stack(stack_env) as private:
        yield private


@pytest.fixture
def google(settings: Settings, sandbox: SandboxClient) -> Iterator[GoogleSandbox]:
    with GoogleSandbox(settings.sandbox_base_url) as client:
        yield client


def _status(stack: PrivateStack, email_id: str, *statuses: str) -> dict[str, Any] | None:
    row = stack.email_row(email_id)
    return row if row is not None and row["status"] in statuses else None


def _kill(worker: Process) -> None:
    worker.kill()  # SIGKILL to its process group: no shutdown, nothing acknowledged
    assert worker.popen is not None
    worker.popen.wait(10)


def _killed_mid_send(stack: PrivateStack, google: GoogleSandbox) -> tuple[TestCompany, str, str]:
    """A Gmail send in flight (Gmail hangs on it) when its worker is killed; the message goes
    back to its queue. The company, its account and the email's id."""
    company = stack.company()
    account = stack.connect_gmail(company, google)
    google.add_fault("timeout", account=account, hang_seconds=20)
    worker = stack.worker()
    email_id = stack.send(company, sender="gmail")
    wait_for(
        lambda: (
            _status(stack, email_id, "sending")
            and not any(f["account"] == account for f in google.faults())
        ),
        timeout=20,
        what="the send to reach Gmail",
    )
    _kill(worker)
    wait_for(lambda: stack.queue_depth("gmail") == 1, timeout=20, what="the message back")
    return company, account, email_id


def test_a_send_killed_mid_flight_is_sent_once_its_message_comes_back(
    stack: PrivateStack, google: GoogleSandbox
) -> None:
    _company, account, email_id = _killed_mid_send(stack, google)
    assert _status(stack, email_id, "sending")

    stack.worker()

    row = wait_for(lambda: _status(stack, email_id, "sent", "failed"), timeout=30, what="the end")
    # The first attempt may have reached Gmail before the kill: the row says so.
    assert (row["status"], row["attempts"], row["possible_duplicate"]) == ("sent", 2, True)
    assert len(google.gmail_sent(account)) == 1


def test_an_email_left_queued_whose_message_was_lost_is_re_driven_by_the_clock(
    stack: PrivateStack, sandbox: SandboxClient
) -> None:
    company = stack.company()
    router = stack.worker(queues=("dispatch",))  # routes it; nobody consumes `smtp` yet
    email_id = stack.send(company)
    wait_for(
        lambda: _status(stack, email_id, "queued") and stack.queue_depth("smtp") == 1,
        timeout=20,
        what="the email queued",
    )
    _kill(router)
    stack.purge("smtp")  # the message is lost, as with a broker's disk
    with stack.pool.connection() as conn:
        conn.execute(
            "UPDATE emails SET updated_at = updated_at - interval '20 minutes' WHERE id = %s",
            (email_id,),
        )
    stack.worker()
    assert _status(stack, email_id, "queued")  # nothing else would ever send it

    stack.start("private-clock", ["clock"])

    row = wait_for(lambda: _status(stack, email_id, "sent", "failed"), timeout=30, what="the end")
    assert (row["status"], row["attempts"], row["possible_duplicate"]) == ("sent", 1, False)
    assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == 1


def test_an_email_the_clock_re_drove_in_vain_ends_failed_stalled_with_its_event(
    stack: PrivateStack, google: GoogleSandbox
) -> None:
    company, account, email_id = _killed_mid_send(stack, google)
    stack.purge("gmail")  # lost with its message, and so were the clock's three re-drives:
    with stack.pool.connection() as conn:
        conn.execute(
            "UPDATE emails SET claimed_at = now() - interval '3 hours',"
            " stalled_since = now() - interval '3 hours', stall_requeues = 3,"
            " updated_at = now() - interval '20 minutes',"
            " swept_at = now() - interval '20 minutes' WHERE id = %s",
            (email_id,),
        )
    api = stack.web()

    with stack.outcomes() as outcomes:
        stack.start("private-clock", ["clock"])
        wait_for(lambda: _status(stack, email_id, "failed"), timeout=30, what="the email failed")
        body = api.get(f"/v1/emails/{email_id}", headers=company.headers()).json()
        event = wait_for(
            lambda: next((e for k, e in outcomes() if k == "email.failed"), None),
            timeout=20,
            what="EmailFailed",
        )

    assert (body["status"], body["error"]["code"]) == ("failed", "stalled"), json.dumps(body)
    said = body["error"]["message"]
    assert "in a send that never finished" in said
    assert "put back on its queue 3 times without progress" in said
    assert f"POST /v1/emails/{email_id}/retry" in said
    assert (event["email_id"], event["error_code"], event["error_message"]) == (
        email_id,
        "stalled",
        said,
    )
    assert google.gmail_sent(account) == []
