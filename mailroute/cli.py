"""`mailroute`: migrate, web, worker, clock, sandbox, company, key, send, email, demo."""

from __future__ import annotations

import base64
import json
import mimetypes
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from mailroute.config.logging import configure_logging
from mailroute.config.settings import Settings, SettingsError
from mailroute.events import queues

DEMO_COMPANY_ID = "00000000-0000-4000-8000-00000000d3e0"


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _pool(settings: Settings) -> Any:
    from mailroute.adapters.db.pool import make_pool

    pool = make_pool(settings, max_size=2)
    pool.open(wait=True, timeout=10)
    return pool


@click.group()
def main() -> None:
    """mailroute: a company's email through its own Gmail or the default SMTP sender."""
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)


@main.command()
def migrate() -> None:
    """Create the database if needed and apply pending migrations (safe to run concurrently)."""
    from mailroute.adapters.db.migrations import apply_migrations, ensure_database

    settings = _settings()
    ensure_database(settings.database_url)
    applied = apply_migrations(settings.database_url)
    click.echo(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")


@main.command()
@click.option("--host", default=None, help="default: WEB_HOST")
@click.option("--port", type=int, default=None, help="default: WEB_PORT")
def web(host: str | None, port: int | None) -> None:
    """Run the HTTP API and the settings page."""
    import uvicorn

    from mailroute.web.app import create_app

    settings = _settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.web_host,
        port=port or settings.web_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )


@main.command()
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
    settings = _settings()
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


@main.command()
def clock() -> None:
    """Run the clock: relay queued requests and outcome events, re-publish parked and stalled
    emails, verify Gmail connections."""
    from mailroute.workers.clock import run_clock

    run_clock(_settings())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="default: the port of SANDBOX_BASE_URL")
@click.option("--smtp-port", type=int, default=None, help="default: SANDBOX_SMTP_PORT")
def sandbox(host: str, port: int | None, smtp_port: int | None) -> None:
    """Run the local stand-in for Google (OAuth + Gmail API) and the SMTP sink."""
    from urllib.parse import urlsplit

    from mailroute_sandbox.server import main as sandbox_main

    settings = _settings()
    http_port = port or urlsplit(settings.sandbox_base_url).port or 8090
    sandbox_main(host, http_port, smtp_port or settings.sandbox_smtp_port)


@main.group()
def company() -> None:
    """Create companies."""


@company.command("create")
@click.option("--name", required=True)
@click.option("--reply-to", required=True, help="the company's own address, used as Reply-To")
@click.option("--admin-email", multiple=True, help="an admin who gets connection notices")
def company_create(name: str, reply_to: str, admin_email: tuple[str, ...]) -> None:
    from mailroute.adapters.db.companies import PostgresCompanies

    companies = PostgresCompanies(_pool(_settings()))
    created = companies.create(name, reply_to)
    for email in admin_email:
        companies.add_user(created.id, email, "admin")
    click.echo(json.dumps({"id": created.id, "name": created.name, "reply_to": created.reply_to}))


@main.group()
def key() -> None:
    """Create API keys."""


@key.command("create")
@click.option("--company", "company_id", required=True)
@click.option("--role", type=click.Choice(["admin", "sender"]), required=True)
@click.option("--label", default="")
def key_create(company_id: str, role: str, label: str) -> None:
    """Print a new API key (shown once; only its hash is stored)."""
    from mailroute.adapters.db.companies import PostgresCompanies

    companies = PostgresCompanies(_pool(_settings()))
    if companies.get(company_id) is None:
        raise click.ClickException(f"company: no company with id {company_id!r}")
    click.echo(companies.create_api_key(company_id, role, label=label))  # type: ignore[arg-type]


@main.command()
@click.option("--company", "company_id", required=True)
@click.option("--to", "to", multiple=True)
@click.option("--cc", multiple=True)
@click.option("--bcc", multiple=True)
@click.option("--subject", default="")
@click.option("--text", default=None)
@click.option("--html", default=None)
@click.option("--kind", default="other")
@click.option("--sender", default="auto")
@click.option("--event-id", default=None)
@click.option("--attach", type=click.Path(exists=True, dir_okay=False), multiple=True)
def send(
    company_id: str,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    bcc: tuple[str, ...],
    subject: str,
    text: str | None,
    html: str | None,
    kind: str,
    sender: str,
    event_id: str | None,
    attach: tuple[str, ...],
) -> None:
    """Request one email, validated exactly like the API; prints the email id."""
    from mailroute.core.errors import BrokerUnavailableError
    from mailroute.events import InvalidEventError
    from mailroute.producer import default_intake
    from mailroute.services.intake import UnknownCompanyRequestError

    data: dict[str, Any] = {
        "company_id": company_id,
        "to": list(to),
        "cc": list(cc),
        "bcc": list(bcc),
        "subject": subject,
        "text": text,
        "html": html,
        "kind": kind,
        "sender": sender,
        "attachments": [
            {
                "filename": Path(path).name,
                "content_type": mimetypes.guess_type(path)[0] or "application/octet-stream",
                "content_base64": base64.b64encode(Path(path).read_bytes()).decode(),
            }
            for path in attach
        ],
    }
    if event_id:
        data["event_id"] = event_id
    try:
        accepted = default_intake().publish(data)
    except InvalidEventError as exc:
        for p in exc.problems:
            click.echo(f"{p.field}: {p.message} ({p.rule})", err=True)
        raise SystemExit(2) from None
    except UnknownCompanyRequestError as exc:
        raise click.ClickException(f"company: {exc}") from None
    except BrokerUnavailableError as exc:
        raise click.ClickException(f"not sent: {exc}") from None
    click.echo(json.dumps({"id": accepted.email_id, "event_id": accepted.event_id}))


@main.group()
def email() -> None:
    """Look at emails."""


@email.command("show")
@click.argument("email_id")
@click.option("--company", "company_id", required=True)
def email_show(email_id: str, company_id: str) -> None:
    from mailroute.adapters.db.emails import PostgresEmails

    view = PostgresEmails(_pool(_settings())).get(email_id, company_id)
    if view is None:
        raise click.ClickException("email: no such email for this company")
    click.echo(json.dumps(view.as_json(), indent=2))


@main.group()
def dlq() -> None:
    """Dead-letter queues: what dramatiq gave up on, and replaying it."""


@dlq.command("list")
@click.option("--queue", "queue_names", multiple=True, type=click.Choice(queues.ALL_QUEUES))
def dlq_list(queue_names: tuple[str, ...]) -> None:
    """Show every dead message with its reason (nothing is consumed by looking)."""
    from mailroute.adapters.db.dead_letters import PostgresDeadLetters
    from mailroute.adapters.dlq import RabbitDeadLetters

    settings = _settings()
    dead = RabbitDeadLetters(settings.rabbitmq_url).look(queue_names or queues.ALL_QUEUES)
    reasons = PostgresDeadLetters(_pool(settings)).reasons(
        [d.message_id for d in dead if d.message_id]
    )
    for d in dead:
        reason = reasons.get(d.message_id or "", "") if d.decodable else "could not be decoded"
        click.echo(
            json.dumps(
                {
                    "dead_queue": d.dead_queue,
                    "message_id": d.message_id,
                    "actor": d.actor,
                    "args": d.args_preview,
                    "reason": reason or "unknown (failed before reasons were recorded)",
                }
            )
        )
    click.echo(f"{len(dead)} dead message(s)", err=True)


@dlq.command("replay")
@click.option("--id", "message_ids", multiple=True, help="a message id; repeat for several")
@click.option("--all", "replay_all", is_flag=True, help="replay every dead message")
@click.option("--queue", "queue_names", multiple=True, type=click.Choice(queues.ALL_QUEUES))
def dlq_replay(
    message_ids: tuple[str, ...], replay_all: bool, queue_names: tuple[str, ...]
) -> None:
    """Put dead messages back on their queue once, with a fresh retry count."""
    from mailroute.adapters.db.dead_letters import PostgresDeadLetters
    from mailroute.adapters.dlq import RabbitDeadLetters
    from mailroute.workers.broker import build_broker

    if bool(message_ids) == replay_all:
        raise click.UsageError("give --id (one or more) or --all")
    settings = _settings()
    broker = build_broker(settings)
    try:
        replayed = RabbitDeadLetters(settings.rabbitmq_url).replay(
            broker,
            message_ids=set(message_ids) if message_ids else None,
            names=queue_names or queues.ALL_QUEUES,
        )
    finally:
        broker.close()
    ids = [d.message_id for d in replayed if d.message_id]
    PostgresDeadLetters(_pool(settings)).mark_replayed(ids)
    for message_id in ids:
        click.echo(message_id)
    missing = set(message_ids) - set(ids)
    if missing:
        raise click.ClickException(f"id: not found in a dead-letter queue: {sorted(missing)}")
    click.echo(f"{len(ids)} message(s) replayed", err=True)


@main.command()
def demo() -> None:
    """Seed the demo company with an admin and a sender key; print how to use them."""
    from mailroute.adapters.db.companies import PostgresCompanies
    from mailroute.cli_gmail import login_url

    settings = _settings()
    companies = PostgresCompanies(_pool(settings))
    found = companies.get(DEMO_COMPANY_ID)
    if found is None:
        found = companies.create(
            "Acme Demo Ltd", "billing@acme-demo.test", company_id=DEMO_COMPANY_ID
        )
    admin_id = companies.add_user(found.id, "admin@acme-demo.test", "admin", "Ada Admin")
    admin_key = companies.create_api_key(found.id, "admin", label="demo", user_id=admin_id)
    sender_key = companies.create_api_key(found.id, "sender", label="demo")
    base = settings.public_base_url.rstrip("/")
    click.echo(
        "\n".join(
            [
                "",
                "mailroute is running.",
                f"  API + docs      {base}/docs",
                f"  sandbox         {settings.sandbox_base_url}  (SMTP sink on port"
                f" {settings.sandbox_smtp_port}; messages at"
                f" {settings.sandbox_base_url}/_sandbox/smtp/messages)",
                f"  company id      {found.id}",
                f"  admin API key   {admin_key}",
                f"  sender API key  {sender_key}",
                f"  settings page   {login_url(settings, found.id)}",
                "                  (a one-time login link, valid 15 minutes;"
                " `mailroute login-link --company ID` makes another)",
                "",
                "Try:",
                f"  curl -s -X POST {base}/v1/emails -H 'Authorization: Bearer {admin_key}' \\",
                "    -H 'Content-Type: application/json' \\",
                '    -d \'{"to": ["jane@example.com"], "subject": "Invoice 42", "text": "Hello"}\'',
                "",
            ]
        )
    )


from mailroute.cli_gmail import register as _register_gmail_commands  # noqa: E402

_register_gmail_commands(main)

if __name__ == "__main__":
    main()
