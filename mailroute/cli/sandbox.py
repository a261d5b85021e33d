"""`mailroute sandbox`: the stand-in Google and SMTP sink (the only product module that may
import `mailroute_sandbox`)."""

from __future__ import annotations

import click

from mailroute.cli.context import settings_or_exit


def register(main: click.Group) -> None:
    main.add_command(sandbox)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="default: the port of SANDBOX_BASE_URL")
@click.option("--smtp-port", type=int, default=None, help="default: SANDBOX_SMTP_PORT")
def sandbox(host: str, port: int | None, smtp_port: int | None) -> None:
    """Run the local stand-in for Google (OAuth + Gmail API) and the SMTP sink."""
    from urllib.parse import urlsplit

    from mailroute_sandbox.server import main as sandbox_main

    settings = settings_or_exit()
    http_port = port or urlsplit(settings.sandbox_base_url).port or 8090
    sandbox_main(host, http_port, smtp_port or settings.sandbox_smtp_port)
