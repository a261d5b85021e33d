"""The long-running processes and the schema: migrate, web, worker, clock."""

from __future__ import annotations

import os
import sys
import tempfile

import click

from mailroute.cli.context import settings_or_exit
from mailroute.events import queues


def register(main: click.Group) -> None:
    for command in (migrate, web, worker, clock):
        main.add_command(command)


@click.command()
def migrate() -> None:
    """Create the database if needed and apply pending migrations (safe to run concurrently)."""
    from mailroute.adapters.db.migrations import apply_migrations, ensure_database

    settings = settings_or_exit()
    ensure_database(settings.database_url)
    applied = apply_migrations(settings.database_url)
    click.echo(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")


@click.command()
@click.option("--host", default=None, help="default: WEB_HOST")
@click.option("--port", type=int, default=None, help="default: WEB_PORT")
def web(host: str | None, port: int | None) -> None:
    """Run the HTTP API and the settings page."""
    import uvicorn

    from mailroute.web.app import create_app

    settings = settings_or_exit()
    uvicorn.run(
        create_app(settings),
        host=host or settings.web_host,
        port=port or settings.web_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )


@click.command()
@click.option(
    "--queues",
    "queue_list",
    default=",".join(queues.ALL_QUEUES),
    show_default=True,
    help="comma-separated queues this process group consumes",
)
@click.option("--processes", type=int, default=1, show_default=True)
@click.option("--threads", type=int, default=8, show_default=True)
def worker(queue_list: str, processes: int, threads: int) -> None:
    """Run dramatiq worker processes for some queues (SIGTERM: finish in-flight, then stop)."""
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    chosen = [q.strip() for q in queue_list.split(",") if q.strip()]
    unknown = sorted(set(chosen) - set(queues.ALL_QUEUES))
    if unknown:
        raise click.BadParameter(f"unknown queue(s) {unknown}; known: {queues.ALL_QUEUES}")
    settings = settings_or_exit()
    os.environ.setdefault("dramatiq_queue_prefetch", str(threads))
    # dramatiq's exporter serves every process of this group from one metrics folder, made fresh
    # so counters of processes that died before this start are not summed in.
    # (dramatiq reads these lower-case names.)
    os.environ["dramatiq_prom_db"] = tempfile.mkdtemp(prefix="mailroute-worker-metrics-")  # noqa: SIM112
    os.environ["dramatiq_prom_port"] = str(settings.worker_metrics_port)  # noqa: SIM112
    os.environ["dramatiq_prom_host"] = settings.worker_metrics_host  # noqa: SIM112
    args = [
        "mailroute.workers.main",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        "--worker-shutdown-timeout",
        "30000",
        "--skip-logging",
        "--queues",
        *chosen,
    ]
    sys.exit(dramatiq_main(make_argument_parser().parse_args(args)))  # type: ignore[no-untyped-call]


@click.command()
def clock() -> None:
    """Run the clock: relay queued requests and outcome events, re-publish parked and stalled
    emails, verify Gmail connections."""
    from mailroute.workers.clock import run_clock

    run_clock(settings_or_exit())
