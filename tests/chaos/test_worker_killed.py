"""Nothing lost: a worker killed with SIGKILL mid-run, then restarted, finishes every email;
an email that may have gone twice is flagged on its row."""

from __future__ import annotations

import collections
import signal

import pytest

from mailroute.adapters.db.pool import Pool
from mailroute.services.intake import Intake
from tests.conftest import SandboxClient, TestCompany, email_request
from tests.stack import Process, wait_for

pytestmark = pytest.mark.chaos

EMAILS = 200


def _statuses(database: Pool, company: TestCompany) -> dict[str, int]:
    with database.connection() as conn:
        rows = conn.execute(
            "SELECT status, count(*) AS n FROM emails WHERE company_id = %s GROUP BY status",
            (company.id,),
        ).fetchall()
    return {r["status"]: r["n"] for r in rows}


def _worker_ready(process: Process) -> bool:
    text = process.log_path.read_text(errors="replace") if process.log_path.exists() else ""
    return text.count("Worker process is ready for action") >= 1


def test_a_worker_killed_mid_run_loses_nothing_and_flags_what_may_have_doubled(
    chaos_env: dict[str, str],
    chaos_intake: Intake,
    company: TestCompany,
    sandbox: SandboxClient,
    database: Pool,
) -> None:
    for i in range(EMAILS):
        chaos_intake.publish(
            email_request(company, event_id=f"kill-{i}", attachments=[]), company_id=company.id
        )

    first = Process(
        "chaos-worker-1", ["worker", "--processes", "1", "--threads", "8"], chaos_env
    ).start()
    try:
        wait_for(
            lambda: _statuses(database, company).get("sent", 0) >= 40, timeout=30, what="40 sent"
        )
        first.kill(signal.SIGKILL)
        first.popen.wait(10)  # type: ignore[union-attr]
    finally:
        first.stop()
    at_kill = _statuses(database, company)
    assert at_kill.get("sent", 0) < EMAILS, (
        "the run finished before the kill; nothing was in flight"
    )

    second = Process(
        "chaos-worker-2", ["worker", "--processes", "1", "--threads", "8"], chaos_env
    ).start()
    try:
        wait_for(
            lambda: _statuses(database, company).get("sent", 0) == EMAILS,
            timeout=120,
            what=f"all {EMAILS} emails sent after the restart",
        )
    finally:
        second.stop()

    copies = collections.Counter(
        m["message_id"] for m in sandbox.smtp_messages(rcpt=company.rcpt())
    )
    with database.connection() as conn:
        rows = conn.execute(
            "SELECT message_id, possible_duplicate FROM emails WHERE company_id = %s", (company.id,)
        ).fetchall()
    flagged = {r["message_id"] for r in rows if r["possible_duplicate"]}
    doubled = {mid for mid, n in copies.items() if n > 1}
    assert len(rows) == EMAILS
    assert set(copies) == {r["message_id"] for r in rows}, "every email reached the sink"
    assert doubled <= flagged, "every email that went twice is flagged"
