"""What every command shares: the settings, read once, and the services built from them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from mailroute.bootstrap import CliServices, build_cli
from mailroute.config.settings import Settings, SettingsError


def settings_or_exit() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def services() -> Iterator[CliServices]:
    built = build_cli(settings_or_exit())
    try:
        yield built
    finally:
        built.close()
