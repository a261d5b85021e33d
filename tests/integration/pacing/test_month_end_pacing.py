"""A month-end run. 600 emails From one Gmail account and 600 From a second
(the sandbox enforces Google's real per-user quota, 150 sends a minute), plus 600 by the default
SMTP sender, on the session's 2 worker processes x 8 threads.

Measured and asserted: zero 429s; each Gmail account sustains at least 80% of its quota over the
steady part of the run (the figure, quoted in the README, is about 93%); the 600 SMTP emails are
all sent long before the Gmail ones; and no worker thread waits on pacing: no Gmail message holds
a thread longer than a send takes, and a third Gmail account and more SMTP emails published
mid-run go out within seconds. The figures are printed and written to
`.run/pacing-figures.json` (quoted in the README).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import mailroute.adapters.db.pacing
import mailroute.core.pacing
import mailroute.services.sending
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.rabbitmq.queues import DramatiqQueues
from mailroute.core.mime import email_id_for
from mailroute.events import EmailRequested, queues
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import TestCompany, email_request
from tests.integration.pacing.conftest import GmailCompany
from tests.stack import Process, wait_for

PER_SENDER = 600
QUOTA_PER_MINUTE = 150  # the sandbox's default: 15,000 units a minute, 100 per send
PROBE_AT = (60.0, 150.0)  # seconds into the run: a third account and more SMTP emails
PROBE_SIZE = 10
FIGURES = Path(__file__).resolve().parents[3] / ".run" / "pacing-figures.json"


def _statuses(database: Pool, company_id: str) -> dict[str, int]:
    with database.connection() as conn:
        rows = conn.execute(
            "SELECT status, count(*) AS n FROM emails WHERE company_id = %s GROUP BY status",
            (company_id,),
        ).fetchall()
    return {r["status"]: r["n"] for r in rows}


def _sent_at(database: Pool, ids: list[str]) -> list[datetime]:
    with database.connection() as conn:
        rows = conn.execute(
            "SELECT sent_at FROM emails WHERE id = ANY(%s::uuid[]) AND status = 'sent'", (ids,)
        ).fetchall()
    return sorted(r["sent_at"] for r in rows)


def _rates(stamps: list[datetime]) -> dict[str, float]:
    """Sends a minute over the steady part (without the first and last 5%), and the most and
    fewest sends seen in any 60-second window that starts at a send."""
    seconds = [(s - stamps[0]).total_seconds() for s in stamps]
    head, tail = len(seconds) // 20, len(seconds) - len(seconds) // 20 - 1
    steady = (tail - head) / (seconds[tail] - seconds[head]) * 60
    windows = []
    for i, start in enumerate(seconds):
        if start + 60 > seconds[-1]:
            break
        windows.append(sum(1 for s in seconds[i:] if s < start + 60))
    return {
        "steady_sends_per_minute": round(steady, 1),
        "most_in_any_60s": max(windows),
        "fewest_in_any_full_60s": min(windows),
        "first_to_last_seconds": round(seconds[-1], 1),
    }


def _worker_lines(worker: Process, email_ids: set[str]) -> list[dict[str, Any]]:
    lines = []
    for raw in worker.log_path.read_text(errors="replace").splitlines():
        if not raw.startswith("{"):
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if line.get("email_id") in email_ids:
            lines.append(line)
    return lines


@pytest.mark.timeout(900)
def test_a_month_end_run_paces_each_gmail_account_just_under_its_quota_and_holds_no_thread(
    make_gmail_company: Callable[[], GmailCompany],
    make_company: Callable[[], TestCompany],
    google: GoogleSandbox,
    connections: PostgresConnections,
    database: Pool,
    broker: Any,
    worker: Process,
) -> None:
    first, second, third = make_gmail_company(), make_gmail_company(), make_gmail_company()
    for gmail in (first, second, third):
        # Room for the whole run in a day; the per-minute quota stays Google's.
        google.set_limits(gmail.account, daily_send_limit=5000)
        connections.set_pacing_limits(gmail.connection_id, daily_cap=5000)
        assert google.account(gmail.account)["quota_units_per_minute"] == 15_000
    smtp = make_company()
    queue = DramatiqQueues(broker)

    def request(company: TestCompany, sender: str, label: str, n: int) -> tuple[str, Any]:
        body = email_request(company, event_id=f"{label}-{n}-{company.tag}", attachments=[])
        event = EmailRequested.parse({**body, "sender": sender, "company_id": company.id})
        return email_id_for(company.id, event.event_id), event.to_wire()

    def publish(batch: list[tuple[str, Any]]) -> list[str]:
        with ThreadPoolExecutor(8) as pool:
            for _ in pool.map(
                lambda item: queue.enqueue(queues.DISPATCH, queues.DISPATCH_EMAIL, (item[1],)),
                batch,
            ):
                pass
        return [email_id for email_id, _ in batch]

    gmail_batch = [
        request(gmail.company, "gmail", "month-end", n)
        for n in range(PER_SENDER)
        for gmail in (first, second)
    ]
    smtp_batch = [request(smtp, "default", "month-end", n) for n in range(PER_SENDER)]
    started = time.monotonic()
    gmail_ids = publish(gmail_batch)  # the Gmail emails first: SMTP is queued behind them
    publish(smtp_batch)
    published_s = time.monotonic() - started

    progress: dict[str, Any] = {"smtp_done_s": None, "probes": []}

    def run_finished() -> bool:
        """One look at the run: note when SMTP is done, fire the mid-run probes when due."""
        elapsed = time.monotonic() - started
        probes: list[dict[str, float]] = progress["probes"]
        smtp_sent = progress["smtp_done_s"] is None and _statuses(database, smtp.id).get("sent")
        if smtp_sent == PER_SENDER:
            progress["smtp_done_s"] = elapsed
        if len(probes) < len(PROBE_AT) and elapsed >= PROBE_AT[len(probes)]:
            label = f"probe{len(probes)}"
            probe = publish(
                [request(third.company, "gmail", label, n) for n in range(PROBE_SIZE)]
                + [request(smtp, "default", label, n) for n in range(PROBE_SIZE)]
            )
            published = time.monotonic()
            wait_for(
                lambda: len(_sent_at(database, probe)) == len(probe),
                timeout=30,
                interval=0.1,
                what="the mid-run probe emails to be sent",
            )
            took = time.monotonic() - published
            probes.append({"at_s": round(elapsed, 1), "all_sent_after_s": round(took, 2)})
        for gmail in (first, second):
            assert _statuses(database, gmail.id).get("failed", 0) == 0, "no email may fail"
        done = [_statuses(database, g.id).get("sent", 0) for g in (first, second)]
        return done == [PER_SENDER, PER_SENDER] and len(probes) == len(PROBE_AT)

    wait_for(run_finished, timeout=600, interval=0.5, what="the month-end run to finish")
    gmail_done_s = time.monotonic() - started
    smtp_done_s: float | None = progress["smtp_done_s"]
    probes: list[dict[str, float]] = progress["probes"]

    counters = google.counters()
    figures: dict[str, Any] = {
        "emails": {"gmail_account_1": PER_SENDER, "gmail_account_2": PER_SENDER},
        "smtp_emails": PER_SENDER,
        "worker": "2 processes x 8 threads",
        "sandbox_quota_per_minute": QUOTA_PER_MINUTE,
        "pacing_sends_per_minute": mailroute.core.pacing.PacingPolicy().sends_per_minute,
        "published_in_s": round(published_s, 1),
        "smtp_all_sent_after_s": round(smtp_done_s or 0, 1),
        "gmail_all_sent_after_s": round(gmail_done_s, 1),
        "mid_run_probes": probes,
        "accounts": {},
    }
    for n, gmail in enumerate((first, second), start=1):
        sent = google.gmail_sent(gmail.account, content=False)
        assert len(sent) == PER_SENDER, "each email sent exactly once"
        stamps = sorted(datetime.fromisoformat(m["received_at"]) for m in sent)
        figures["accounts"][f"gmail_account_{n}"] = {
            **_rates(stamps),
            "rate_limited_429s": counters["rate_limited"].get(gmail.account, 0),
        }
    figures["rate_limited_429s_third_account"] = counters["rate_limited"].get(third.account, 0)

    lines = _worker_lines(worker, set(gmail_ids))
    durations = [
        float(line["duration_ms"])
        for line in lines
        if line.get("event") == "message.done" and line.get("actor") == queues.SEND_VIA_GMAIL
    ]
    paced = [line for line in lines if line.get("event") == "mailbox.paced"]
    delays = [float(line["delay_s"]) for line in paced if line.get("reason") == "slot"]
    figures["gmail_messages_handled"] = len(durations)
    figures["gmail_message_ms"] = {
        "median": round(statistics.median(durations), 1),
        "p99": round(sorted(durations)[int(len(durations) * 0.99)], 1),
        "max": round(max(durations), 1),
    }
    figures["paced"] = {
        "put_back_for_a_slot": len(delays),
        "sent": sum(
            1
            for line in lines
            if line.get("event") == "message.done" and line.get("email_status") == "sent"
        ),
        "at_concurrency_cap": sum(1 for line in paced if line.get("reason") == "concurrency"),
        "slot_delay_s_median": round(statistics.median(delays), 1),
        "slot_delay_s_max": round(max(delays), 1),
    }
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")
    print("\npacing figures:", json.dumps(figures, indent=2))  # noqa: T201 - the README quotes them

    # Zero 429s, never over the quota, and near it: the pacing aims at 140 a minute (93%); the
    # figure is quoted, and the bound leaves room for a loaded machine (one run on a busy one
    # measured 87%).
    for account in figures["accounts"].values():
        assert account["rate_limited_429s"] == 0
        assert account["steady_sends_per_minute"] >= 0.8 * QUOTA_PER_MINUTE
        assert account["most_in_any_60s"] <= QUOTA_PER_MINUTE
    assert figures["rate_limited_429s_third_account"] == 0
    # SMTP is not held up behind Gmail: done within seconds, long before the Gmail run ends.
    assert smtp_done_s is not None
    assert smtp_done_s < 60
    assert smtp_done_s < gmail_done_s / 4
    # No thread waits on pacing: a Gmail message is handled in about the time of a send (the
    # run's 1,200 pacing waits of up to ~4 minutes are delayed messages, not threads), and
    # mid-run another account's emails and SMTP emails go out at once.
    assert figures["gmail_message_ms"]["max"] < 2000
    assert figures["paced"]["slot_delay_s_max"] > 200
    assert all(probe["all_sent_after_s"] < 15 for probe in probes)
    for module in (mailroute.services.sending, mailroute.core.pacing, mailroute.adapters.db.pacing):
        assert "sleep(" not in Path(str(module.__file__)).read_text()
