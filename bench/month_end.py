"""Month end: every company sends its invoices at once, some through their own Gmail under
Google's real limits, the rest from the default SMTP sender.

`companies` companies of which `gmail` have Gmail connected for real, with the sandbox's Google
quotas and mailroute's default Gmail pacing left as they are (140 sends a minute, 4 at a time,
500 a day per account); each company publishes `per_company` invoices, one company after the
other, all in one `publish_many` (as a billing run publishes its invoices); then 2 worker
processes send them all. The figures:

* how long until every email is sent, from the first publish and from the workers being ready
  (the end read from the emails' own `sent_at`/`failed_at`, so the polling below costs no
  precision);
* the 429s the sandbox answered (must be 0: pacing stays under Google's quota), read from the
  sandbox's own counter and, as a check, from the workers' JSON log lines;
* the emails not sent (must be 0);
* the ideal: the longer of the SMTP emails at the SMTP rate the bench measured
  (`smtp_per_second`) and the slowest Gmail account's `per_company` sends at its pacing
  (`(n - 1) * 60 / sends_per_minute`: the first slot is now), and the measured time over it.

    python -m bench.month_end [--companies 1000 --gmail 300 --per-company 10]
                              [--smtp-per-second R]  (else measured first, as the bench does)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

from bench.gmail_accounts import connect_accounts
from bench.harness import THREADS, BenchEnv, Drain, bench_env, drain, worker_group
from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.bootstrap import build_producer
from mailroute.core.pacing import PacingPolicy
from mailroute_sandbox.client import SandboxClient

PROCESSES = 2
GMAIL_RATE_LIMITED = "gmail_rate_limited"  # the error code a worker logs for a Gmail 429


def spread(companies: int, gmail: int) -> list[bool]:
    """Which of `companies` (in publishing order) send through Gmail: `gmail` of them, evenly
    spaced, so Gmail's invoices are spread through the queue as a real month end's would be."""
    return [(k + 1) * gmail // companies > k * gmail // companies for k in range(companies)]


def _invoice(company_id: str, event_id: str, sender: str, n: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "company_id": company_id,
        "kind": "invoice",
        "sender": sender,
        "to": [f"client{n}@example.com"],
        "subject": f"Invoice {event_id}",
        "text": "Hello, please find your invoice for this month attached.",
    }


def _counters(bench: BenchEnv) -> dict[str, Any]:
    with SandboxClient(bench.settings.sandbox_base_url) as google:
        return google.counters()


class _Finished:
    """How many of the scenario's emails are sent or failed, asked often and cheaply.

    Counting the rows of 1,000 companies costs PostgreSQL tens of milliseconds, too much to ask
    20 times a second beside the workers being measured. So the sandbox's in-memory counts
    (Gmail sends and SMTP messages accepted) are read every `SANDBOX_EVERY` seconds, and the
    database is asked only once they reach the total, or every `DATABASE_EVERY` seconds (an
    email that failed never reaches the sandbox). The end time itself is read from the rows."""

    SANDBOX_EVERY = 0.2
    DATABASE_EVERY = 2.0

    def __init__(self, bench: BenchEnv, ids: list[str], items: int, before: dict[str, Any]) -> None:
        self._bench, self._ids, self._items = bench, ids, items
        self._base = _delivered(before)
        self._asked = self._counted = 0.0
        self._done = 0
        self._google = SandboxClient(bench.settings.sandbox_base_url)
        self.database_queries = 0

    def close(self) -> None:
        self._google.close()

    def __call__(self) -> int:
        now = time.monotonic()
        if now - self._asked < self.SANDBOX_EVERY:
            return self._done
        self._asked = now
        delivered = _delivered(self._google.counters()) - self._base
        if delivered >= self._items or now - self._counted >= self.DATABASE_EVERY:
            self._counted = now
            self.database_queries += 1
            with self._bench.pool.connection() as conn:
                row = conn.execute(
                    "SELECT count(*) AS n FROM emails WHERE company_id = ANY(%s::uuid[])"
                    " AND status IN ('sent', 'failed')",
                    (self._ids,),
                ).fetchone()
            self._done = int(row["n"]) if row else 0
        return self._done


def _delivered(counters: dict[str, Any]) -> int:
    """Emails the sandbox accepted: Gmail sends and SMTP messages."""
    return int(counters["totals"]["sends"]) + int(counters["smtp_messages"])


def _worker_429s(log_path: Path) -> int:
    """Lines of the workers' JSON log that report a Gmail 429 (a retry or a failure with
    `gmail_rate_limited`): one per 429 the workers received, since Gmail sends never retry
    inside the client (`num_retries=0`)."""
    found = 0
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return 0
    for line in lines:
        if GMAIL_RATE_LIMITED not in line or not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("error_code") == GMAIL_RATE_LIMITED:
            found += 1
    return found


def _outcomes(
    bench: BenchEnv, ids: list[str], gmail_ids: list[str], ready_at: float
) -> dict[str, Any]:
    """The scenario's emails by route and status; per route the last send (seconds after the
    workers were ready); the Gmail account whose sends spanned longest; emails retried; emails
    of Gmail companies that left by another route."""
    with bench.pool.connection() as conn:
        by_status = conn.execute(
            "SELECT coalesce(route, 'none') AS route, status, count(*) AS n,"
            " max(extract(epoch FROM sent_at)) AS last_sent,"
            " max(extract(epoch FROM coalesce(sent_at, failed_at))) AS last_done,"
            " count(*) FILTER (WHERE attempts > 1) AS retried"
            " FROM emails WHERE company_id = ANY(%s::uuid[]) GROUP BY 1, 2",
            (ids,),
        ).fetchall()
        spans = conn.execute(
            "SELECT company_id, count(*) AS n,"
            " extract(epoch FROM max(sent_at) - min(sent_at)) AS span"
            " FROM emails WHERE company_id = ANY(%s::uuid[]) AND route = 'gmail'"
            " AND status = 'sent' GROUP BY company_id ORDER BY span DESC LIMIT 1",
            (ids,),
        ).fetchone()
        off_route = conn.execute(
            "SELECT count(*) AS n FROM emails WHERE company_id = ANY(%s::uuid[])"
            " AND route IS DISTINCT FROM 'gmail'",
            (gmail_ids,),
        ).fetchone()
    statuses: dict[str, dict[str, int]] = {}
    last: dict[str, float] = {}
    retried = 0
    last_done = 0.0
    for row in by_status:
        statuses.setdefault(row["route"], {})[row["status"]] = int(row["n"])
        retried += int(row["retried"])
        if row["last_sent"] is not None:
            last[row["route"]] = max(
                last.get(row["route"], 0.0), round(float(row["last_sent"]) - ready_at, 2)
            )
        if row["last_done"] is not None:
            last_done = max(last_done, float(row["last_done"]))
    return {
        "last_done_epoch": last_done,
        "by_route_and_status": statuses,
        "last_sent_after_ready_s": last,
        "emails_retried": retried,
        "gmail_company_emails_off_gmail": int(off_route["n"]) if off_route else 0,
        "slowest_gmail_account": (
            {"emails": int(spans["n"]), "first_to_last_sent_s": round(float(spans["span"]), 2)}
            if spans
            else None
        ),
    }


def month_end(
    bench: BenchEnv,
    smtp_per_second: float,
    companies: int = 1000,
    gmail: int = 300,
    per_company: int = 10,
) -> dict[str, Any]:
    """Run the month end (see the module's docstring) and return its figures."""
    if not 0 <= gmail <= companies:
        raise ValueError("gmail must be between 0 and companies")
    if smtp_per_second <= 0:
        raise ValueError("smtp_per_second must be positive")
    tag = uuid.uuid4().hex[:6]
    begun = time.monotonic()
    gmail_ids = connect_accounts(bench.settings, bench.pool, gmail, lifted=False)
    connect_seconds = time.monotonic() - begun
    begun = time.monotonic()
    book = PostgresCompanies(bench.pool)
    smtp_ids = [
        book.create(f"Month End {tag} {k} Ltd", f"billing+{tag}-{k}@bench.example").id
        for k in range(companies - gmail)
    ]
    create_seconds = time.monotonic() - begun

    gmail_left, smtp_left = iter(gmail_ids), iter(smtp_ids)
    order = [
        (next(gmail_left), "gmail") if is_gmail else (next(smtp_left), "default")
        for is_gmail in spread(companies, gmail)
    ]
    ids = [company_id for company_id, _ in order]
    items = companies * per_company
    before = _counters(bench)

    producer = build_producer(bench.settings)
    try:
        first_publish, first_publish_at = time.monotonic(), time.time()
        producer.intake.publish_many(
            [
                _invoice(company_id, f"month-end-{tag}-{n}", sender, n)
                for company_id, sender in order
                for n in range(per_company)
            ]
        )
        publish_seconds = time.monotonic() - first_publish
    finally:
        producer.close()

    finished = _Finished(bench, ids, items, before)

    policy = PacingPolicy(
        sends_per_minute=bench.settings.gmail_sends_per_minute,
        max_concurrent=bench.settings.gmail_max_concurrent_sends,
    )
    smtp_emails = (companies - gmail) * per_company
    ideal_smtp = smtp_emails / smtp_per_second
    ideal_gmail = (per_company - 1) * policy.interval.total_seconds() if gmail else 0.0
    ideal = max(ideal_smtp, ideal_gmail)

    args = ["worker", "--processes", str(PROCESSES), "--threads", str(THREADS)]
    result: Drain | None = None
    try:
        with worker_group(f"bench-month-end-{tag}", args, bench.env, PROCESSES) as group:
            ready_at, ready = time.time(), time.monotonic()
            # On the deadline drain raises; what was not sent by then is reported below.
            with contextlib.suppress(AssertionError):
                result = drain(group, items, finished, timeout=max(120.0, 10 * ideal))
            waited_at = time.time()
            log_path = group.log_path
    finally:
        finished.close()
    after = _counters(bench)
    outcomes = _outcomes(bench, ids, gmail_ids, ready_at)
    # The last email's own time when all ended; the deadline's when some did not.
    last_done = outcomes.pop("last_done_epoch")
    end_at = last_done if result else waited_at

    counts = [
        (status, n) for per in outcomes["by_route_and_status"].values() for status, n in per.items()
    ]
    sent = sum(n for status, n in counts if status == "sent")
    failed = sum(n for status, n in counts if status == "failed")

    def delta(name: str) -> int:
        return int(after["totals"][name]) - int(before["totals"][name])

    from_ready = round(end_at - ready_at, 2)
    from_publish = round(end_at - first_publish_at, 2)
    return {
        "companies": companies,
        "gmail_companies": gmail,
        "smtp_companies": companies - gmail,
        "per_company": per_company,
        "emails": items,
        "gmail_pacing": {
            "sends_per_minute": policy.sends_per_minute,
            "max_concurrent": policy.max_concurrent,
            "daily_cap": policy.daily_cap,
            "quotas_lifted": False,
        },
        "gmail_connect_seconds": round(connect_seconds, 2),
        "gmail_connect_ms_each": round(connect_seconds * 1000 / gmail, 1) if gmail else 0.0,
        "smtp_companies_create_seconds": round(create_seconds, 2),
        "publish_seconds": round(publish_seconds, 2),
        "publish_per_second": round(items / publish_seconds, 1),
        "workers_start_seconds": round(ready - first_publish - publish_seconds, 2),
        "timed_out": result is None,
        "completion_checks_on_database": finished.database_queries,
        "seconds_from_first_publish": from_publish,
        "seconds_from_workers_ready": from_ready,
        "per_second_from_workers_ready": round(items / from_ready, 1),
        "per_second_from_first_publish": round(items / from_publish, 1),
        "cpu_ms_per_email": result.cpu_ms_per_item if result else None,
        "peak_rss_mb": result.peak_rss_mb if result else None,
        "sandbox_429s": delta("rate_limited"),
        "worker_logged_429s": _worker_429s(log_path),
        "not_sent": {
            "failed": failed,
            "other": items - sent - failed,
        },
        "sandbox_gmail_sends": delta("sends"),
        "sandbox_smtp_messages": int(after["smtp_messages"]) - int(before["smtp_messages"]),
        **outcomes,
        "ideal": {
            "smtp_per_second": round(smtp_per_second, 1),
            "smtp_seconds": round(ideal_smtp, 2),
            "gmail_slowest_account_seconds": round(ideal_gmail, 2),
            "seconds": round(ideal, 2),
        },
        "ratio": round(from_ready / ideal, 2),
        "ratio_from_first_publish": round(from_publish / ideal, 2),
    }


def main() -> None:
    """Run the month end alone in a bench environment of its own."""
    parser = argparse.ArgumentParser(prog="python -m bench.month_end")
    parser.add_argument("--companies", type=int, default=1000)
    parser.add_argument("--gmail", type=int, default=300)
    parser.add_argument("--per-company", type=int, default=10)
    parser.add_argument(
        "--smtp-per-second",
        type=float,
        help="the SMTP drain rate of 2 worker processes (the bench's p2.mailroute_smtp);"
        " measured first in this run when not given",
    )
    parser.add_argument("--smtp-emails", type=int, default=2000, help="to measure that rate")
    args = parser.parse_args()
    with bench_env() as bench:
        rate = args.smtp_per_second
        if rate is None:
            from bench.__main__ import _company, mailroute_drain

            company = [_company(bench)[0]]
            measured, _ = mailroute_drain(
                bench, args.smtp_emails, PROCESSES, company, ("default",), "smtp"
            )
            rate = measured.per_second
            print(f"SMTP, {PROCESSES} processes: {measured.__dict__}", flush=True)
        figures = month_end(bench, rate, args.companies, args.gmail, args.per_company)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
