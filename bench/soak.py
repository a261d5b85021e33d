"""`make soak`: many emails through the whole pipeline at a steady rate, with the clock
pruning and purging as it does in production (a short retention, so it happens during the run).

    python -m bench.soak [--emails 200000] [--rate 100]

Every 10,000 emails sent it reads: the worker and web processes' RSS, the p99 of accepted→sent
latency of the emails sent since the last reading, the CPU per email the workers, the web, the
clock and PostgreSQL spent since then, the execution time of the relay's and the clock's queries
(EXPLAIN ANALYZE of the statements they run), and the database's bytes per email. Two references
in the same readings tell the machine from mailroute: an SMTP transaction straight to the sink,
and a round trip to PostgreSQL. Progress is read from the sink's counter, not from the emails
table, so that the soak's own questions do not grow with the table.
Writes bench/results/soak.json and docs/soak.png (RSS, p99 and relay query time against emails
sent), and prints the README's table.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import smtplib
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil

from bench.harness import ROOT, THREADS, BenchEnv, bench_env, cpu_seconds, worker_group
from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.bootstrap import build_producer
from mailroute_sandbox.client import SandboxClient
from tests.stack import Process, free_port, http_ready, running

RESULTS = ROOT / "bench" / "results" / "soak.json"
PLOT = ROOT / "docs" / "soak.png"
EVERY = 10_000
PDF = base64.b64encode(b"%PDF-1.4\n" + bytes(range(256)) + b"\n%%EOF\n").decode()
# Short, so that purging and pruning run all through the soak: content purged 2 minutes after
# an email ends, published outbox rows pruned after one.
SOAK_ENV = {"RETENTION_DAYS": str(120 / 86400), "OUTBOX_RETENTION_DAYS": str(60 / 86400)}
# The statements the relay and the clock run each tick, as read-only SELECTs.
RELAY_QUERY = (
    "SELECT id FROM outbox_events WHERE published_at IS NULL AND created_at < now() - interval"
    " '2 seconds' ORDER BY id LIMIT 500"
)
CLOCK_QUERIES = {
    "stalled": "SELECT id FROM emails WHERE ((status = 'accepted' AND updated_at < now() -"
    " interval '10 minutes') OR (route IS NOT NULL AND ((status = 'queued' AND updated_at < now()"
    " - interval '10 minutes') OR (status = 'retrying' AND next_attempt_at < now() - interval"
    " '10 minutes' AND updated_at < now() - interval '10 minutes') OR (status = 'sending' AND"
    " claimed_at < now() - interval '5 minutes' AND updated_at < now() - interval '10 minutes'))))"
    " ORDER BY updated_at LIMIT 100",
    "due_retries": "SELECT id FROM emails WHERE status = 'retrying' AND parked AND"
    " next_attempt_at <= now() AND route IS NOT NULL ORDER BY next_attempt_at LIMIT 100",
}
# Tables a PostgreSQL with autovacuum on vacuums by itself every minute or so (migration 0014);
# on a server where it is off, the soak vacuums them as often, standing in for it.
VACUUMED = ("emails", "attachments", "outbox_events")
VACUUM_EVERY = 60.0
# The sink holds only its newest messages: the sandbox's memory stays flat too.
SANDBOX_ENV = {"SANDBOX_SMTP_KEEP": "10000"}
PROBES = 20
SIZE = (
    "SELECT (pg_total_relation_size('emails') + pg_total_relation_size('attachments')"
    " + pg_total_relation_size('outbox_events')) AS bytes, (SELECT count(*) FROM emails) AS n"
)


def _request(company_id: str, n: int) -> dict[str, Any]:
    return {
        "event_id": f"soak-{n}",
        "company_id": company_id,
        "kind": "invoice",
        "sender": "default",
        "to": ["client@example.com"],
        "subject": f"Invoice {n}",
        "text": "Hello, please find your invoice attached. " * 20,
        "attachments": [
            {
                "filename": f"invoice-{n}.pdf",
                "content_type": "application/pdf",
                "content_base64": PDF,
            }
        ],
    }


def _rss_mb(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return round(total / 2**20, 1)


def _explain_ms(bench: BenchEnv, query: str, runs: int = 5) -> float:
    """The statement's execution time as PostgreSQL measures it (the median of a few runs: a
    sub-millisecond figure is noisy on a shared machine)."""
    times = []
    with bench.pool.connection() as conn:
        for _ in range(runs):
            row = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}").fetchone()
            assert row is not None
            plan = next(iter(row.values()))
            times.append(float(plan[0]["Execution Time"]))
    return round(statistics.median(times), 3)


class Meter:
    """What the soak reads besides the database: the processes' CPU since the last reading,
    the sink's count, and the two references."""

    def __init__(self, bench: BenchEnv, pids: dict[str, int]) -> None:
        self.bench = bench
        self.pids = pids
        self.sandbox = SandboxClient(bench.settings.sandbox_base_url)
        self.probes_sent = 0
        self.last_cpu = self.cpu()

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: mailroute's processes, PostgreSQL and RabbitMQ (every process
        of theirs on the machine: the soak runs alone), the sandbox, and the soak itself (its
        publisher is the producer)."""
        found = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        found.update(_cpu_by_name({"postgres": "postgres", "beam.smp": "rabbitmq"}))
        found["sandbox"] = cpu_seconds(self.bench.sandbox_pid)
        found["producer"] = sum(psutil.Process().cpu_times()[:2])
        return found

    def sent(self) -> int:
        """Messages the sink accepted, the probes' left out."""
        return int(self.sandbox.counters()["smtp_messages"]) - self.probes_sent

    def smtp_probe_ms(self) -> float:
        """The median of a few SMTP transactions straight to the sink, on one connection."""
        times = []
        port = int(self.bench.env["SANDBOX_SMTP_PORT"])
        raw = b"From: probe@soak.example\r\nTo: probe@example.com\r\nSubject: probe\r\n\r\nx\r\n"
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            for _ in range(PROBES):
                started = time.perf_counter()
                smtp.sendmail("probe@soak.example", ["probe@example.com"], raw)
                times.append(time.perf_counter() - started)
        self.probes_sent += PROBES
        return round(statistics.median(times) * 1000, 2)

    def postgres_probe_ms(self) -> float:
        """The median round trip of a trivial statement on the bench's pool."""
        times = []
        with self.bench.pool.connection() as conn:
            for _ in range(PROBES):
                started = time.perf_counter()
                conn.execute("SELECT 1").fetchone()
                times.append(time.perf_counter() - started)
        return round(statistics.median(times) * 1000, 3)

    def cpu_ms_per_email(self, emails: int) -> dict[str, float]:
        now = self.cpu()
        spent = {name: now[name] - self.last_cpu.get(name, 0.0) for name in now}
        self.last_cpu = now
        return {name: round(seconds * 1000 / max(1, emails), 2) for name, seconds in spent.items()}

    def close(self) -> None:
        self.sandbox.close()


def _cpu_by_name(names: dict[str, str]) -> dict[str, float]:
    """CPU seconds of every process with each name in `names`, under the name it maps to."""
    total = dict.fromkeys(names.values(), 0.0)
    for proc in psutil.process_iter(["name", "cpu_times"]):
        times = proc.info.get("cpu_times")
        name = names.get(proc.info.get("name") or "")
        if name is not None and times is not None:
            total[name] += times.user + times.system
    return total


def _reading(
    bench: BenchEnv, meter: Meter, sent: int, emails: int, since: datetime
) -> dict[str, Any]:
    with bench.pool.connection() as conn:
        row = conn.execute(
            "SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at -"
            " created_at)) AS p99, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch"
            " FROM sent_at - created_at)) AS p50 FROM emails WHERE sent_at > %s",
            (since,),
        ).fetchone()
        size = conn.execute(SIZE).fetchone()
        purged = conn.execute(
            "SELECT count(*) AS n FROM emails WHERE content_purged_at IS NOT NULL"
        ).fetchone()
        outbox = conn.execute("SELECT count(*) AS n FROM outbox_events").fetchone()
    assert row is not None
    assert size is not None
    assert purged is not None
    assert outbox is not None
    return {
        "sent": sent,
        "at": datetime.now(UTC).isoformat(),
        "worker_rss_mb": _rss_mb(meter.pids["worker"]),
        "web_rss_mb": _rss_mb(meter.pids["web"]),
        "sandbox_rss_mb": _rss_mb(bench.sandbox_pid),
        "p50_ms": round(float(row["p50"] or 0) * 1000, 1),
        "p99_ms": round(float(row["p99"] or 0) * 1000, 1),
        "cpu_ms_per_email": meter.cpu_ms_per_email(emails),
        "smtp_probe_ms": meter.smtp_probe_ms(),
        "postgres_probe_ms": meter.postgres_probe_ms(),
        "relay_query_ms": _explain_ms(bench, RELAY_QUERY),
        "clock_query_ms": {name: _explain_ms(bench, q) for name, q in CLOCK_QUERIES.items()},
        "db_bytes_per_email": round(int(size["bytes"]) / max(1, int(size["n"]))),
        "emails_in_table": int(size["n"]),
        "content_purged": int(purged["n"]),
        "outbox_rows": int(outbox["n"]),
    }


def _autovacuum_on(bench: BenchEnv) -> bool:
    with bench.pool.connection() as conn:
        row = conn.execute("SHOW autovacuum").fetchone()
    return row is not None and next(iter(row.values())) == "on"


def _vacuum_while(bench: BenchEnv, stop: threading.Event) -> None:
    """What autovacuum would do, once a minute, until `stop` (a server with it off)."""
    import psycopg

    while not stop.wait(VACUUM_EVERY):
        with psycopg.connect(bench.settings.database_url, autocommit=True) as conn:
            for table in VACUUMED:
                conn.execute(f"VACUUM (ANALYZE) {table}")  # constants only


def _sent_in_table(bench: BenchEnv) -> int:
    with bench.pool.connection() as conn:
        row = conn.execute("SELECT count(*) AS n FROM emails WHERE status = 'sent'").fetchone()
    return int(row["n"]) if row else 0


def _publish(
    bench: BenchEnv,
    company_id: str,
    key: str,
    web: str,
    emails: int,
    rate: float,
    stop: threading.Event,
) -> None:
    """At a steady `rate`: Python `publish` for most, `POST /v1/emails` for one in ten."""
    intake = build_producer(bench.settings).intake
    started = time.monotonic()
    with httpx.Client(base_url=web, timeout=30, headers={"Authorization": f"Bearer {key}"}) as api:
        for n in range(emails):
            if stop.is_set():
                return
            due = started + n / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            request = _request(company_id, n)
            if n % 10 == 0:
                response = api.post(
                    "/v1/emails", json={k: v for k, v in request.items() if k != "company_id"}
                )
                response.raise_for_status()
            else:
                intake.publish(request)


def run(emails: int, rate: float, every: int = EVERY) -> dict[str, Any]:
    with bench_env(SANDBOX_ENV) as bench:
        env = {**bench.env, **SOAK_ENV}
        web_port = free_port()
        web_url = f"http://127.0.0.1:{web_port}"
        env.update({"PUBLIC_BASE_URL": web_url, "ALLOWED_HOSTS": "127.0.0.1"})
        companies = PostgresCompanies(bench.pool)
        company = companies.create(f"Soak {uuid.uuid4().hex[:6]} Ltd", "billing@soak.example")
        key = companies.create_api_key(company.id, "admin")
        args = ["worker", "--processes", "2", "--threads", str(THREADS)]
        web = Process("soak-web", ["web", "--port", str(web_port)], env)
        clock = Process("soak-clock", ["clock"], env)
        with (
            worker_group("soak-worker", args, env, 2) as worker,
            running(web, http_ready(web_url + "/healthz")),
            running(clock, lambda: clock.alive()),
        ):
            meter = Meter(bench, {"worker": worker.pid, "web": web.pid, "clock": clock.pid})
            stop = threading.Event()
            publisher = threading.Thread(
                target=_publish, args=(bench, company.id, key, web_url, emails, rate, stop)
            )
            autovacuum = _autovacuum_on(bench)
            vacuum = threading.Thread(target=_vacuum_while, args=(bench, stop), daemon=True)
            if not autovacuum:
                vacuum.start()
            started = time.monotonic()
            since = datetime.now(UTC)
            publisher.start()
            readings: list[dict[str, Any]] = []
            try:
                last = 0
                while last < emails:
                    sent = meter.sent()
                    if sent >= min(last + every, emails):
                        reading = _reading(bench, meter, sent, sent - last, since)
                        reading["seconds"] = round(time.monotonic() - started, 1)
                        readings.append(reading)
                        print(json.dumps(reading), flush=True)
                        since = datetime.fromisoformat(reading["at"])
                        last = sent
                    elif not publisher.is_alive() and _stalled(meter, sent):
                        raise RuntimeError(f"the soak stopped at {sent} sent")
                    time.sleep(1.0)
            finally:
                stop.set()
                publisher.join()
                meter.close()
            seconds = time.monotonic() - started
            in_table = _sent_in_table(bench)
    summary = _summary(emails, rate, seconds, readings, in_table)
    summary["vacuum"] = (
        "the server's autovacuum"
        if autovacuum
        else f"the server's autovacuum is off: the soak vacuumed {', '.join(VACUUMED)}"
        f" every {VACUUM_EVERY:g} s in its place"
    )
    return summary


def _stalled(meter: Meter, sent: int, wait: float = 120.0) -> bool:
    """Nothing more sent for `wait` seconds after publishing ended."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(5)
        if meter.sent() > sent:
            return False
    return True


def _ratio(readings: list[dict[str, Any]], field: str) -> float:
    """The last reading against the first steady one (the second: the first holds the start)."""
    start = readings[1] if len(readings) > 2 else readings[0]
    first, last = float(start[field]), float(readings[-1][field])
    return round(last / first, 2) if first else 0.0


def _summary(
    emails: int, rate: float, seconds: float, readings: list[dict[str, Any]], in_table: int
) -> dict[str, Any]:
    per_email = {
        name: _ratio([r["cpu_ms_per_email"] for r in readings], name)
        for name in readings[-1]["cpu_ms_per_email"]
    }
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "emails": emails,
        "rate_per_second": rate,
        "seconds": round(seconds, 1),
        "worker": f"2 processes x {THREADS} threads",
        "retention": SOAK_ENV,
        "sent_in_table": in_table,
        "readings": readings,
        "end_over_start": {
            **{
                field: _ratio(readings, field)
                for field in (
                    "worker_rss_mb",
                    "web_rss_mb",
                    "p50_ms",
                    "p99_ms",
                    "relay_query_ms",
                    "smtp_probe_ms",
                    "postgres_probe_ms",
                )
            },
            "cpu_ms_per_email": per_email,
        },
    }


def plot(result: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    readings = result["readings"]
    sent = [r["sent"] / 1000 for r in readings]
    fig, axes = plt.subplots(4, 1, figsize=(8, 11), sharex=True)
    axes[0].plot(sent, [r["worker_rss_mb"] for r in readings], marker="o", label="workers (2)")
    axes[0].plot(sent, [r["web_rss_mb"] for r in readings], marker="o", label="web")
    axes[0].set_ylabel("RSS (MiB)")
    axes[0].legend()
    axes[1].plot(sent, [r["p99_ms"] for r in readings], marker="o", color="tab:red", label="p99")
    axes[1].plot(sent, [r["p50_ms"] for r in readings], marker="o", color="tab:orange", label="p50")
    axes[1].set_ylabel("accepted → sent (ms)")
    axes[1].legend()
    axes[2].plot(sent, [r["relay_query_ms"] for r in readings], marker="o", label="relay")
    for name in CLOCK_QUERIES:
        axes[2].plot(
            sent, [r["clock_query_ms"][name] for r in readings], marker=".", label=f"clock: {name}"
        )
    axes[2].set_ylabel("query time (ms)")
    axes[2].legend()
    for name in readings[-1]["cpu_ms_per_email"]:
        axes[3].plot(sent, [r["cpu_ms_per_email"][name] for r in readings], marker=".", label=name)
    axes[3].set_ylabel("CPU per email (ms)")
    axes[3].set_xlabel("emails sent (thousands)")
    axes[3].legend()
    for ax in axes:
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    fig.suptitle(f"mailroute soak: {result['emails']:,} emails at {result['rate_per_second']:g}/s")
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=110)


def table(result: dict[str, Any]) -> str:
    rows = [
        "| sent | worker RSS | web RSS | p50 | p99 | CPU/email: mailroute (workers + web + clock)"
        " / PostgreSQL / RabbitMQ / all | SMTP / PostgreSQL reference | relay query"
        " | clock queries | bytes/email |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["readings"]:
        clock = " / ".join(f"{v:g}" for v in r["clock_query_ms"].values())
        cpu = r["cpu_ms_per_email"]
        rows.append(
            f"| {r['sent']:,} | {r['worker_rss_mb']:g} MiB | {r['web_rss_mb']:g} MiB |"
            f" {r['p50_ms']:g} ms | {r['p99_ms']:g} ms |"
            f" {cpu['worker'] + cpu['web'] + cpu['clock']:.1f} / {cpu['postgres']:g} /"
            f" {cpu['rabbitmq']:g} / {sum(cpu.values()):.1f} ms |"
            f" {r['smtp_probe_ms']:g} / {r['postgres_probe_ms']:g} ms |"
            f" {r['relay_query_ms']:g} ms | {clock} ms | {r['db_bytes_per_email']:,} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emails", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--every", type=int, default=EVERY, help="emails sent between readings")
    options = parser.parse_args()
    result = run(options.emails, options.rate, options.every)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    plot(result)
    print(table(result))
    print("end over start:", json.dumps(result["end_over_start"]))


if __name__ == "__main__":
    main()
