"""Google's Cross-Account Protection stream: risc configure, risc show, risc verify."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import click

from mailroute.adapters.google.risc_api import RiscApiError, RiscStreamApi
from mailroute.bootstrap.risc import risc_stream_api
from mailroute.cli.context import settings_or_exit
from mailroute.core.risc import ALL_EVENT_TYPES, OAUTH, RISC


def register(main: click.Group) -> None:
    main.add_command(risc)


@contextmanager
def _api() -> Iterator[RiscStreamApi]:
    try:
        api = risc_stream_api(settings_or_exit())
    except (RiscApiError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield api
    except RiscApiError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        api.close()


def _event_type(name: str) -> str:
    """A full event type URI, from it or its last part (`tokens-revoked`)."""
    if name.startswith("https://"):
        return name
    for full in ALL_EVENT_TYPES:
        if full.rsplit("/", 1)[-1] == name:
            return full
    raise click.BadParameter(
        f"unknown event type {name!r}; known: "
        + ", ".join(t.removeprefix(RISC).removeprefix(OAUTH) for t in ALL_EVENT_TYPES)
    )


@click.group()
def risc() -> None:
    """Google's Cross-Account Protection (RISC) stream, through the RISC API as the service
    account of GOOGLE_RISC_SERVICE_ACCOUNT_FILE."""


@risc.command("configure")
@click.option("--receiver", required=True, help="The receiver: https://<host>/risc/events")
@click.option(
    "--events",
    "events",
    multiple=True,
    help="An event type to receive (repeat); default: every type mailroute acts on or records.",
)
def risc_configure(receiver: str, events: tuple[str, ...]) -> None:
    """Point the stream at the receiver, for the event types given."""
    chosen = [_event_type(e) for e in events] or list(ALL_EVENT_TYPES)
    with _api() as api:
        click.echo(json.dumps(api.configure(receiver, chosen), indent=2))


@risc.command("show")
def risc_show() -> None:
    """Print the stream's configuration."""
    with _api() as api:
        click.echo(json.dumps(api.read(), indent=2))


@risc.command("verify")
@click.option("--state", default=None, help="The verification's state (default: a random one)")
def risc_verify(state: str | None) -> None:
    """Ask Google to send a verification event to the receiver (recorded, nothing else)."""
    chosen = state or secrets.token_urlsafe(12)
    with _api() as api:
        api.verify(chosen)
    click.echo(f"verification requested with state {chosen}")
