"""What every benchmark scenario needs: an isolated database and vhost, the sandbox, worker
groups as real processes, and the readings (time, CPU, peak RSS) taken from them."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from mailroute.adapters.db.migrations import apply_migrations, ensure_database
from mailroute.adapters.db.pool import Pool, make_pool
from mailroute.config.settings import Settings
from tests.stack import Process, free_port, http_ready, running, wait_for

ROOT = Path(__file__).resolve().parent.parent
THREADS = 8


@dataclass
class BenchEnv:
    run_id: str
    env: dict[str, str]
    settings: Settings
    pool: Pool
    vhost: str
    database: str
    sandbox_pid: int = 0


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, check=False)


@contextmanager
def bench_env(sandbox_env: dict[str, str] | None = None) -> Iterator[BenchEnv]:
    """A database, a vhost and a sandbox of the bench's own (`sandbox_env` adds to its
    environment); all removed at the end."""
    run_id = uuid.uuid4().hex[:8]
    database, vhost = f"mailroute_bench_{run_id}", f"mailroute_bench_{run_id}"
    http_port, smtp_port, web_port = free_port(), free_port(), free_port()
    values = {
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{database}",
        "RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "SANDBOX_BASE_URL": f"http://127.0.0.1:{http_port}",
        "SANDBOX_SMTP_PORT": str(smtp_port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
        "SANDBOX_REDIRECT_URIS": f"http://127.0.0.1:{web_port}/oauth/google/callback",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",  # as in production: every message writes its log lines
        "WORKER_METRICS_PORT": "0",
        "dramatiq_queue_prefetch": str(THREADS),
    }
    env = {**os.environ, **values, "MAILROUTE_TEST_RUN_ID": f"bench-{run_id}"}
    settings = Settings.from_env(values)
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    ensure_database(settings.database_url)
    apply_migrations(settings.database_url)
    pool = make_pool(settings, max_size=4)
    pool.open(wait=True)
    sandbox = Process("bench-sandbox", ["sandbox"], {**env, **(sandbox_env or {})})
    try:
        with running(sandbox, http_ready(settings.sandbox_base_url + "/_sandbox/health")):
            yield BenchEnv(run_id, env, settings, pool, vhost, database, sandbox.pid)
    finally:
        pool.close()
        _rabbitmqctl("delete_vhost", vhost)
        import psycopg

        with psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def ready_count(process: Process) -> int:
    try:
        return process.log_path.read_text(errors="replace").count(
            "Worker process is ready for action"
        )
    except OSError:
        return 0


@dataclass
class GroupReading:
    cpu_seconds: float
    peak_rss_mb: list[float]


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for proc in _tree(pid):
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def peak_rss_mb(pid: int) -> list[float]:
    """VmHWM (the kernel's peak resident set) of each worker process under `pid`."""
    peaks = []
    for proc in _tree(pid)[1:]:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return peaks


@contextmanager
def worker_group(
    name: str, args: list[str], env: dict[str, str], processes: int, program: str | None = None
) -> Iterator[Process]:
    """Worker processes started from `program` (the `mailroute` command by default), once ready."""
    process = Process(name, args, env) if program is None else Process(name, args, env, program)
    with running(process, lambda: ready_count(process) >= processes, timeout=60):
        yield process


@dataclass
class Drain:
    seconds: float
    per_second: float
    cpu_seconds: float
    cpu_ms_per_item: float
    peak_rss_mb: float


def drain(group: Process, items: int, done: Callable[[], int], timeout: float = 600) -> Drain:
    """Time a worker group that is ready, with `items` already queued, until `done()` reaches it."""
    cpu_before = cpu_seconds(group.pid)
    started = time.monotonic()
    wait_for(lambda: done() >= items, timeout=timeout, interval=0.05, what=f"{items} done")
    seconds = time.monotonic() - started
    cpu = cpu_seconds(group.pid) - cpu_before
    peaks = peak_rss_mb(group.pid)
    return Drain(
        seconds=round(seconds, 2),
        per_second=round(items / seconds, 1),
        cpu_seconds=round(cpu, 2),
        cpu_ms_per_item=round(cpu * 1000 / items, 3),
        peak_rss_mb=round(max(peaks), 1) if peaks else 0.0,
    )


def percentiles(values: list[float], points: tuple[int, ...] = (50, 95, 99)) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {f"p{p}": 0.0 for p in points}
    return {
        f"p{p}": round(ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))], 1)
        for p in points
    }


def as_dict(value: Any) -> Any:
    return value.__dict__ if hasattr(value, "__dict__") else value
