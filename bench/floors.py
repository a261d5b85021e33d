"""The floors: the bare two-hop dramatiq pipeline doing only mailroute's own I/O for one route,
one email at a time (`bench/floor.py` for SMTP, `bench/gmail_floor.py` for Gmail), drained by
the plain dramatiq CLI and timed like mailroute's workers.

Each floor counts what the sandbox received of its run and refuses a result short of it, so a
floor that sends nothing cannot look fast.

    python -m bench.floors [--emails 2000]      # both floors, 1 and 2 processes
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from bench import floor_io
from bench.harness import ROOT, THREADS, BenchEnv, Drain, bench_env, drain, worker_group
from mailroute.adapters.google.oauth import GoogleOAuth
from mailroute_sandbox.client import SandboxClient

UNLIMITED = 10_000_000


def _bare_pipeline(
    bench: BenchEnv,
    module: str,
    items: int,
    processes: int,
    enqueue: Callable[[int], object],
    extra_env: dict[str, str] | None = None,
) -> Drain:
    """`items` messages queued by `enqueue(i)`, then drained by the plain dramatiq CLI running
    `module`, whose last hop appends one byte per item to BENCH_DONE_FILE."""
    name = module.rsplit(".", 1)[-1]
    done_file = Path(tempfile.gettempdir()) / f"mailroute-bench-{name}-{bench.run_id}-{processes}"
    done_file.unlink(missing_ok=True)
    env = {
        **bench.env,
        **(extra_env or {}),
        "BENCH_RABBITMQ_URL": bench.settings.rabbitmq_url,
        "BENCH_DONE_FILE": str(done_file),
    }
    for i in range(items):
        enqueue(i)
    args = [module, "-p", str(processes), "-t", str(THREADS), "--path", str(ROOT)]
    dramatiq_cli = str(Path(sys.executable).with_name("dramatiq"))
    with worker_group(f"bench-{name}-{processes}", args, env, processes, dramatiq_cli) as group:
        result = drain(group, items, lambda: done_file.stat().st_size if done_file.exists() else 0)
    done_file.unlink(missing_ok=True)
    return result


def _tables(bench: BenchEnv) -> None:
    os.environ["BENCH_RABBITMQ_URL"] = bench.settings.rabbitmq_url  # the actors' broker
    from bench import gmail_floor

    with bench.pool.connection() as conn:
        conn.execute(floor_io.TABLE)
        conn.execute(gmail_floor.ACCOUNTS_TABLE)


def _sent_rows(bench: BenchEnv, company_id: str) -> int:
    with bench.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM bench_floor WHERE company_id = %s AND status = 'sent'",
            (company_id,),
        ).fetchone()
    return int(row["n"]) if row else 0


def _check(what: str, got: int, items: int) -> None:
    if got != items:
        raise RuntimeError(f"floor run not counted: {what} is {got}, not {items}")


def smtp_floor(bench: BenchEnv, items: int, processes: int) -> Drain:
    """The same two hops doing mailroute's I/O for an SMTP email, and nothing else."""
    _tables(bench)
    from bench import floor as actors

    company_id = str(uuid.uuid4())
    rcpt = f"floor-{company_id[:8]}@example.com"
    result = _bare_pipeline(
        bench,
        "bench.floor",
        items,
        processes,
        lambda i: actors.floor_a.send(floor_io.floor_message(i, company_id)),
        {
            "BENCH_DATABASE_URL": bench.settings.database_url,
            "BENCH_SMTP_PORT": bench.env["SANDBOX_SMTP_PORT"],
            "BENCH_SMTP_RCPT": rcpt,
        },
    )
    with SandboxClient(bench.settings.sandbox_base_url) as sandbox:
        received = len(sandbox.smtp_messages(rcpt, content=False))
    _check("the SMTP messages the sandbox received", received, items)
    _check("the rows recorded sent", _sent_rows(bench, company_id), items)
    return result


def _gmail_account(bench: BenchEnv) -> tuple[str, str]:
    """A new sandbox account with Google's limits lifted, authorized for real (consent approved
    without a browser, the code exchanged by google-auth-oauthlib); its address and access
    token."""
    account = f"floor.{uuid.uuid4().hex[:8]}@acme-sandbox.test"
    oauth = GoogleOAuth(bench.settings)
    with SandboxClient(bench.settings.sandbox_base_url) as google:
        google.add_account(account, name="Bench Floor")
        google.set_limits(
            account,
            quota_units_per_minute=UNLIMITED,
            daily_send_limit=UNLIMITED,
            max_concurrent_sends=1000,
        )
        start = oauth.authorization_url(state=f"floor-{uuid.uuid4().hex}", login_hint=account)
        approved = google.approve(start.url, account)
    granted = oauth.exchange_code(
        approved["code"], state=approved["state"], code_verifier=start.code_verifier
    )
    return account, granted.access_token


def gmail_floor(bench: BenchEnv, items: int, processes: int) -> Drain:
    """The same two hops doing mailroute's I/O for a Gmail email (its database round trips and
    one `users.messages.send`), and nothing else; one account of its own per run."""
    _tables(bench)
    from bench import gmail_floor as actors

    account, token = _gmail_account(bench)
    with bench.pool.connection() as conn:
        conn.execute("INSERT INTO bench_floor_accounts (account) VALUES (%s)", (account,))
    company_id = str(uuid.uuid4())
    result = _bare_pipeline(
        bench,
        "bench.gmail_floor",
        items,
        processes,
        lambda i: actors.gmail_floor_a.send(floor_io.floor_message(i, company_id, sender="gmail")),
        {
            "BENCH_DATABASE_URL": bench.settings.database_url,
            "BENCH_GMAIL_ROOT_URL": bench.settings.google_endpoint("gmail_root_url"),
            "BENCH_GMAIL_ACCOUNT": account,
            "BENCH_GMAIL_TOKEN": token,
        },
    )
    with SandboxClient(bench.settings.sandbox_base_url) as google:
        sends = int(google.counters()["sends"].get(account, 0))
    _check("the Gmail sends the sandbox counted", sends, items)
    _check("the rows recorded sent", _sent_rows(bench, company_id), items)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floors")
    parser.add_argument("--emails", type=int, default=2000)
    args = parser.parse_args()
    results: dict[str, dict[str, object]] = {}
    with bench_env() as bench:
        for processes in (1, 2):
            for name, run in (("smtp", smtp_floor), ("gmail", gmail_floor)):
                found = run(bench, args.emails, processes)
                results.setdefault(name, {})[f"p{processes}"] = found.__dict__
                print(
                    f"[{processes} process(es)] {name} floor {found.per_second}/s,"
                    f" {found.cpu_ms_per_item} CPU ms/email",
                    flush=True,
                )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
