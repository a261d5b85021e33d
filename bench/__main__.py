"""`make bench`: mailroute's pipeline next to a bare dramatiq two-hop pipeline (the broker's
ceiling), to the same two hops doing only mailroute's I/O one email at a time (per route:
`bench/floors.py`) and to django-post_office, a peer that queues email in PostgreSQL and sends
it in batches (`bench/peer.py`), in one run; then a month end (`bench/month_end.py`).

    python -m bench [--emails 5000] [--quick]

Writes bench/results/latest.json and prints a summary. Every figure is measured in this run on
this machine, so quote ratios against the baseline rather than absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil

from bench.floors import _bare_pipeline, gmail_floor, smtp_floor
from bench.gmail_accounts import connect_accounts
from bench.harness import (
    ROOT,
    THREADS,
    BenchEnv,
    Drain,
    bench_env,
    drain,
    percentiles,
    worker_group,
)
from bench.month_end import month_end
from bench.peer import peer_database, post_office_run
from bench.sql_count import count_statements
from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.rabbitmq.broker import build_broker
from mailroute.services.intake import Intake
from tests.stack import Process, free_port, http_ready, running, wait_for

RESULTS = ROOT / "bench" / "results"


def _company(bench: BenchEnv) -> tuple[str, str]:
    companies = PostgresCompanies(bench.pool)
    company = companies.create(f"Bench {uuid.uuid4().hex[:6]} Ltd", "billing@bench.example")
    return company.id, companies.create_api_key(company.id, "admin")


def _request(company_id: str, event_id: str, sender: str = "default") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "company_id": company_id,
        "kind": "invoice",
        "sender": sender,
        "to": ["client@example.com"],
        "subject": f"Invoice {event_id}",
        "text": "Hello, please find your invoice attached.",
    }


def _sent(bench: BenchEnv, company_ids: str | list[str]) -> Callable[[], int]:
    ids = [company_ids] if isinstance(company_ids, str) else company_ids

    def count() -> int:
        with bench.pool.connection() as conn:
            row = conn.execute(
                "SELECT count(*) AS n FROM emails WHERE company_id = ANY(%s) AND status = 'sent'",
                (ids,),
            ).fetchone()
        return int(row["n"]) if row else 0

    return count


def _intake(bench: BenchEnv) -> tuple[Intake, Any]:
    broker = build_broker(bench.settings.rabbitmq_url, worker=False)
    from mailroute.bootstrap import build_producer

    return build_producer(bench.settings).intake, broker


def publish_each(
    bench: BenchEnv,
    company_id: str | list[str],
    count: int,
    prefix: str,
    senders: tuple[str, ...] = ("default",),
    *,
    batch: bool = False,
) -> dict[str, float]:
    """Publish `count` requests from one thread, spread over the companies and senders given,
    one `publish` each (or, `batch`, all in one `publish_many`: a billing run's way): the rate,
    the seconds and this thread's CPU seconds."""
    ids = [company_id] if isinstance(company_id, str) else company_id
    intake, broker = _intake(bench)
    requests = [
        _request(ids[i % len(ids)], f"{prefix}-{i}", senders[i % len(senders)])
        for i in range(count)
    ]
    cpu, started = time.thread_time(), time.monotonic()
    if batch:
        intake.publish_many(requests)
    else:
        for request in requests:
            intake.publish(request)
    result = _publishing(count, time.monotonic() - started, time.thread_time() - cpu)
    broker.close()
    return result


def publish_batch(
    bench: BenchEnv,
    company_id: str | list[str],
    count: int,
    prefix: str,
    senders: tuple[str, ...] = ("default",),
) -> dict[str, float]:
    """`publish_each`'s requests in one `publish_many`."""
    return publish_each(bench, company_id, count, prefix, senders, batch=True)


def _publishing(count: int, seconds: float, cpu: float) -> dict[str, float]:
    return {
        "per_second": round(count / seconds, 1),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "cpu_ms_per_email": round(cpu * 1000 / count, 3),
    }


def baseline(bench: BenchEnv, items: int, processes: int) -> Drain:
    """Bare dramatiq: hop_a enqueues hop_b; both no-ops."""
    os.environ["BENCH_RABBITMQ_URL"] = bench.settings.rabbitmq_url
    from bench import baseline as actors

    return _bare_pipeline(bench, "bench.baseline", items, processes, actors.hop_a.send)


def mailroute_drain(
    bench: BenchEnv,
    items: int,
    processes: int,
    companies: list[str],
    senders: tuple[str, ...],
    name: str,
    *,
    batch: bool = True,
) -> tuple[Drain, dict[str, Any]]:
    """Publish `items` (in one `publish_many`, or one `publish` each), then time the workers
    draining them. Also the end to end: publishing plus the drain, in seconds and CPU."""
    sent = _sent(bench, companies)
    already = sent()  # the same companies may have sent in an earlier scenario
    publish = publish_batch if batch else publish_each
    published = publish(bench, companies, items, f"{name}-{processes}", senders)
    args = ["worker", "--processes", str(processes), "--threads", str(THREADS)]
    with worker_group(f"bench-{name}-{processes}", args, bench.env, processes) as group:
        result = drain(group, items, lambda: sent() - already)
    seconds = published["seconds"] + result.seconds
    cpu = published["cpu_seconds"] + result.cpu_seconds
    end_to_end = {
        "publish": published,
        "seconds": round(seconds, 2),
        "per_second": round(items / seconds, 1),
        "cpu_ms_per_email": round(cpu * 1000 / items, 3),
    }
    return result, end_to_end


def latency_at(
    bench: BenchEnv,
    rate: float,
    seconds: float,
    processes: int,
    warm_seconds: float = 2.0,
    *,
    batch_seconds: float = 0.0,
) -> dict[str, Any]:
    """Publish at a steady `rate` while the workers run; publish→sent latency per email: one
    `publish` each, or with `batch_seconds` one `publish_many` that often of the emails that
    came due meanwhile (their latency counts from when each came due, the wait included).

    The first `warm_seconds` of publishing meet workers that have just started (each thread
    opens its broker, database and SMTP connections on its first message): they are reported
    apart, as `first_seconds`, and the steady state is measured after them."""
    company_id, _ = _company(bench)
    intake, broker = _intake(bench)
    warm = int(rate * warm_seconds)
    count = warm + max(50, int(rate * seconds))
    published: dict[str, float] = {}
    args = ["worker", "--processes", str(processes), "--threads", str(THREADS)]
    with worker_group(f"bench-latency-{int(rate)}", args, bench.env, processes):
        started = time.time()
        waiting: list[dict[str, Any]] = []
        for i in range(count):
            due = started + i / rate
            event_id = f"lat-{int(rate)}-{i}"
            if batch_seconds:
                waiting.append(_request(company_id, event_id))
                published[event_id] = due
                if len(waiting) >= rate * batch_seconds or i == count - 1:
                    pause = due - time.time()
                    if pause > 0:
                        time.sleep(pause)
                    intake.publish_many(waiting)
                    waiting = []
                continue
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            published[event_id] = time.time()
            intake.publish(_request(company_id, event_id))
        wait_for(lambda: _sent(bench, company_id)() >= count, timeout=300, what="latency run")
    broker.close()
    with bench.pool.connection() as conn:
        rows = conn.execute(
            "SELECT event_id, extract(epoch FROM sent_at) AS sent FROM emails"
            " WHERE company_id = %s",
            (company_id,),
        ).fetchall()
    steady: list[float] = []
    first: list[float] = []
    for r in rows:
        latency = (float(r["sent"]) - published[r["event_id"]]) * 1000
        (first if int(r["event_id"].rsplit("-", 1)[1]) < warm else steady).append(latency)
    measured = [published[f"lat-{int(rate)}-{i}"] for i in range(warm, count)]
    achieved = len(measured) / (max(measured) - min(measured) or 1)
    return {
        "target_rate": round(rate, 1),
        "achieved_rate": round(achieved, 1),
        "emails": len(steady),
        "latency_ms": percentiles(steady),
        "first_seconds": {"seconds": warm_seconds, "emails": len(first), **percentiles(first)},
    }


def http_intake(bench: BenchEnv, requests: int, clients: int = 8) -> dict[str, Any]:
    company_id, key = _company(bench)
    port = free_port()
    env = {**bench.env, "WEB_PORT": str(port)}
    url = f"http://127.0.0.1:{port}"
    timings: list[float] = []
    lock = threading.Lock()

    def client(worker: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
            for i in range(worker, requests, clients):
                begun = time.perf_counter()
                response = http.post("/v1/emails", json=_request(company_id, f"http-{i}"))
                elapsed = (time.perf_counter() - begun) * 1000
                assert response.status_code == 202, response.text
                with lock:
                    timings.append(elapsed)

    with running(Process("bench-web", ["web"], env), http_ready(url + "/healthz")) as web:
        cpu_before = psutil.Process(web.pid).cpu_times()
        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(w,)) for w in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - started
        cpu_after = psutil.Process(web.pid).cpu_times()
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    return {
        "requests": requests,
        "clients": clients,
        "per_second": round(requests / seconds, 1),
        "latency_ms": percentiles(timings),
        "web_cpu_ms_per_request": round(cpu * 1000 / requests, 2),
    }


def sql_round_trips(
    bench: BenchEnv, items: int, companies: list[str], sender: str, name: str
) -> dict[str, Any]:
    publish_batch(bench, companies, items, name, (sender,))
    args = ["worker", "--processes", "1", "--threads", str(THREADS)]
    import psycopg

    # Worker processes start after the setting, so their connections log every statement; the
    # bench polls on a connection opened before it, which does not log.
    with psycopg.connect(bench.settings.database_url, autocommit=True) as poll:

        def sent() -> int:
            row = poll.execute(
                "SELECT count(*) FROM emails WHERE company_id = ANY(%s) AND status = 'sent'",
                (companies,),
            ).fetchone()
            return int(row[0]) if row else 0

        already = sent()  # the same companies may have sent in an earlier scenario
        with (
            count_statements(bench.database) as counter,
            worker_group(f"bench-sql-{name}", args, bench.env, 1),
        ):
            wait_for(lambda: sent() - already >= items, timeout=300, interval=0.5, what="sql run")
            time.sleep(1.0)  # let the last outcome publication commit
    statements = counter.count
    return {"emails": items, "statements": statements, "per_email": round(statements / items, 2)}


def cpu_scaling(
    bench: BenchEnv, items: int, gmail_accounts: list[str], reps: int = 3
) -> dict[str, Any]:
    """CPU per email with 2 worker processes over that with 1, from runs that alternate 1 and 2
    processes `reps` times (medians), beside the bare baseline's own ratio measured the same way:
    one pair of runs on a shared machine moves by more than the 10 % this figure is judged by."""
    runs: dict[str, dict[int, list[float]]] = {}
    for rep in range(reps):
        for processes in (1, 2):
            base = baseline(bench, items, processes)
            runs.setdefault("baseline_two_hop", {}).setdefault(processes, []).append(
                base.cpu_ms_per_item
            )
            for name, companies, senders in (
                ("smtp", [_company(bench)[0]], ("default",)),
                ("gmail", gmail_accounts, ("gmail",)),
            ):
                mine, _ = mailroute_drain(
                    bench, items, processes, companies, senders, f"cpu-{name}-{rep}"
                )
                runs.setdefault(name, {}).setdefault(processes, []).append(mine.cpu_ms_per_item)
    out: dict[str, Any] = {"runs_each": reps, "emails_a_run": items}
    for name, by_processes in runs.items():
        one, two = statistics.median(by_processes[1]), statistics.median(by_processes[2])
        out[name] = {
            "cpu_ms_per_email_1": round(one, 3),
            "cpu_ms_per_email_2": round(two, 3),
            "cpu_per_email_2_over_1": round(two / one, 2),
            "all_runs_ms": {str(p): v for p, v in by_processes.items()},
        }
    return out


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def publish_rates(bench: BenchEnv, count: int) -> dict[str, Any]:
    """Python intake alone (no workers): one `publish` each against one `publish_many`, the
    same requests, alternating twice; medians. Their requests stay queued."""
    company_id, _ = _company(bench)
    each: list[dict[str, float]] = []
    many: list[dict[str, float]] = []
    for rep in range(2):
        each.append(publish_each(bench, company_id, count, f"rate-each-{rep}"))
        many.append(publish_batch(bench, company_id, count, f"rate-many-{rep}"))
    one = statistics.median(r["per_second"] for r in each)
    batch = statistics.median(r["per_second"] for r in many)
    return {
        "events": count,
        "publish": {"per_second": one, "runs": each},
        "publish_many": {"per_second": batch, "runs": many},
        "publish_many_over_publish": round(batch / one, 1),
    }


def _median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run whose `key` figure is the median of the runs (the lower middle of two)."""
    ordered = sorted(runs, key=lambda run: float(run[key]))
    return ordered[(len(ordered) - 1) // 2]


def against_peer(
    bench: BenchEnv, items: int, processes: int, peer_url: str, reps: int
) -> dict[str, Any]:
    """mailroute's default route and django-post_office, the same emails, alternating runs
    (`reps` of each, the order swapped every time), so both see the same machine."""
    mine: list[dict[str, Any]] = []
    peers: list[dict[str, Any]] = []
    for rep in range(reps):
        order = ("mailroute", "peer") if rep % 2 == 0 else ("peer", "mailroute")
        for who in order:
            if who == "peer":
                peers.append(post_office_run(bench, items, processes, THREADS, peer_url))
                continue
            drained, end_to_end = mailroute_drain(
                bench, items, processes, [_company(bench)[0]], ("default",), f"peer-vs-{rep}"
            )
            mine.append({"drain": drained.__dict__, "end_to_end": end_to_end})
    runs = [{**run["end_to_end"], "drain": run["drain"]} for run in mine]
    median_mine = _median_run(runs, "per_second")
    peer_runs = [{**run["end_to_end_after_startup"], "run": run} for run in peers]
    median_peer = _median_run(peer_runs, "per_second")
    return {
        "reps": reps,
        "mailroute_smtp": median_mine,
        "post_office": median_peer["run"],
        "mailroute_runs_per_second": [r["per_second"] for r in runs],
        "post_office_runs_per_second": [r["per_second"] for r in peer_runs],
        "throughput_ratio": round(median_mine["per_second"] / median_peer["per_second"], 2),
        "cpu_ratio": round(median_mine["cpu_ms_per_email"] / median_peer["cpu_ms_per_email"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--emails", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="fewer emails, for a smoke run")
    args = parser.parse_args()
    items = 600 if args.quick else args.emails
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "emails": items,
        "threads_per_process": THREADS,
    }
    with bench_env() as bench, peer_database(bench) as peer_url:
        gmail_accounts = connect_accounts(bench.settings, bench.pool, 20)
        for processes in (1, 2):
            base = baseline(bench, items, processes)
            floors = {
                "smtp": smtp_floor(bench, items, processes),
                "gmail": gmail_floor(bench, items, processes),
            }
            row: dict[str, Any] = {
                "baseline_two_hop": base.__dict__,
                "floor_smtp": floors["smtp"].__dict__,
                "floor_gmail": floors["gmail"].__dict__,
                "peer": against_peer(bench, items, processes, peer_url, 2 if args.quick else 3),
            }
            single, single_end = mailroute_drain(
                bench, items, processes, [_company(bench)[0]], ("default",), "single", batch=False
            )
            row["mailroute_smtp_one_publish_each"] = {**single.__dict__, "end_to_end": single_end}
            for name, senders in (
                ("smtp", ("default",)),
                ("gmail", ("gmail",)),
                ("mix", ("default", "gmail")),
            ):
                companies = gmail_accounts if name != "smtp" else [_company(bench)[0]]
                mine, end_to_end = mailroute_drain(
                    bench, items, processes, companies, senders, name
                )
                row[f"mailroute_{name}"] = {**mine.__dict__, "end_to_end": end_to_end}
                row[f"ratio_{name}"] = round(mine.per_second / base.per_second, 2)
                print(
                    f"[{processes} process(es)] baseline {base.per_second}/s,"
                    f" mailroute {name} {mine.per_second}/s",
                    flush=True,
                )
            row["ratio_smtp_to_floor"] = round(
                row["mailroute_smtp"]["per_second"] / floors["smtp"].per_second, 2
            )
            row["ratio_gmail_to_floor"] = round(
                row["mailroute_gmail"]["per_second"] / floors["gmail"].per_second, 2
            )
            print(
                f"[{processes} process(es)] floors smtp {floors['smtp'].per_second}/s gmail"
                f" {floors['gmail'].per_second}/s; against post_office"
                f" {row['peer']['throughput_ratio']}x the throughput at"
                f" {row['peer']['cpu_ratio']}x the CPU",
                flush=True,
            )
            results[f"p{processes}"] = row
        peak = results["p2"]["mailroute_smtp"]["per_second"]
        # Each way in at half and 90 % of its own maximum: one `publish` an email (each its own
        # message through dispatch and send), and `publish_many` every 100 ms.
        single = results["p2"]["mailroute_smtp_one_publish_each"]["per_second"]
        results["latency_smtp"] = {
            "one_publish_each": {
                "max_per_second": single,
                "half_of_max": latency_at(bench, single * 0.5, 15, 2),
                "ninety_percent_of_max": latency_at(bench, single * 0.9, 15, 2),
            },
            "publish_many_every_100_ms": {
                "max_per_second": peak,
                "half_of_max": latency_at(bench, peak * 0.5, 15, 2, batch_seconds=0.1),
                "ninety_percent_of_max": latency_at(bench, peak * 0.9, 15, 2, batch_seconds=0.1),
            },
        }
        results["month_end"] = (
            month_end(bench, peak, companies=100, gmail=30)
            if args.quick
            else month_end(bench, peak)
        )
        results["cpu_scaling"] = cpu_scaling(
            bench, 2000 if not args.quick else 300, gmail_accounts, reps=3 if not args.quick else 1
        )
        sql_items = 300 if not args.quick else 100
        results["sql_statements_per_email"] = {
            "smtp": sql_round_trips(bench, sql_items, [_company(bench)[0]], "default", "sql-smtp"),
            "gmail": sql_round_trips(bench, sql_items, gmail_accounts, "gmail", "sql-gmail"),
        }
        # Last: their requests stay queued (no workers run), so nothing after them may count them.
        results["python_publish"] = publish_rates(bench, 3000 if not args.quick else 600)
        results["http_intake"] = http_intake(bench, 2000 if not args.quick else 400)
    p1, p2 = results["p1"], results["p2"]
    results["scaling"] = {
        name: {
            "throughput_2_over_1": round(
                p2[f"mailroute_{name}"]["per_second"] / p1[f"mailroute_{name}"]["per_second"], 2
            ),
            "per_process_with_2": round(p2[f"mailroute_{name}"]["per_second"] / 2, 1),
            "cpu_per_email_2_over_1": round(
                p2[f"mailroute_{name}"]["cpu_ms_per_item"]
                / p1[f"mailroute_{name}"]["cpu_ms_per_item"],
                2,
            ),
        }
        for name in ("smtp", "gmail", "mix")
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "latest.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
