"""CLI commands for Gmail connections: login links, token key rotation."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add the Gmail connection commands to the `mailroute` group."""
