"""Emails: send, email show, dlq list, dlq replay."""

from __future__ import annotations

import base64
import json
import mimetypes
from pathlib import Path
from typing import Any

import click

from mailroute.cli.context import services
from mailroute.events import InvalidEventError, queues
from mailroute.events.ids import UUID_MESSAGE, is_canonical_uuid
from mailroute.services.intake import UnknownCompanyRequestError


def register(main: click.Group) -> None:
    for command in (send, email, dlq):
        main.add_command(command)


@click.command()
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
        with services() as built:
            accepted = built.intake.accept(data)
    except InvalidEventError as exc:
        for p in exc.problems:
            click.echo(f"{p.field}: {p.message} ({p.rule})", err=True)
        raise SystemExit(2) from None
    except UnknownCompanyRequestError as exc:
        raise click.ClickException(f"company: {exc}") from None
    click.echo(json.dumps({"id": accepted.email_id, "event_id": accepted.event_id}))


@click.group()
def email() -> None:
    """Look at emails."""


@email.command("show")
@click.argument("email_id")
@click.option("--company", "company_id", required=True)
def email_show(email_id: str, company_id: str) -> None:
    if not (is_canonical_uuid(email_id) and is_canonical_uuid(company_id)):
        raise click.ClickException(f"email: no such email for this company ({UUID_MESSAGE})")
    with services() as built:
        view = built.emails.get(email_id, company_id)
    if view is None:
        raise click.ClickException("email: no such email for this company")
    click.echo(json.dumps(view.as_json(), indent=2))


@click.group()
def dlq() -> None:
    """Dead-letter queues: what dramatiq gave up on, and replaying it."""


@dlq.command("list")
@click.option("--queue", "queue_names", multiple=True, type=click.Choice(queues.ALL_QUEUES))
def dlq_list(queue_names: tuple[str, ...]) -> None:
    """Show every dead message with its reason (nothing is consumed by looking)."""
    with services() as built:
        dead = built.dead_letters.look(queue_names or queues.ALL_QUEUES)
        reasons = built.dead_letter_reasons.reasons([d.message_id for d in dead if d.message_id])
    for d in dead:
        # A message RabbitMQ dead-lettered by itself has no recorded reason: its x-death says.
        recorded = reasons.get(d.message_id or "", "") or d.broker_reason or ""
        reason = recorded if d.decodable else "could not be decoded"
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
    if bool(message_ids) == replay_all:
        raise click.UsageError("give --id (one or more) or --all")
    with services() as built:
        replayed = built.dead_letters.replay(
            built.broker,
            message_ids=set(message_ids) if message_ids else None,
            names=queue_names or queues.ALL_QUEUES,
        )
        ids = [d.message_id for d in replayed if d.message_id]
        built.dead_letter_reasons.mark_replayed(ids)
    for message_id in ids:
        click.echo(message_id)
    missing = set(message_ids) - set(ids)
    if missing:
        raise click.ClickException(f"id: not found in a dead-letter queue: {sorted(missing)}")
    click.echo(f"{len(ids)} message(s) replayed", err=True)
