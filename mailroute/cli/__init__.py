"""`mailroute`: migrate, web, worker, clock, sandbox, company, key, send, email, dlq,
login-link, tokens, demo. Each command module builds what it uses through `mailroute.bootstrap`."""

from __future__ import annotations

import click

from mailroute.cli.context import settings_or_exit
from mailroute.config.logging import configure_logging


@click.group()
def main() -> None:
    """mailroute: a company's email through its own Gmail or the default SMTP sender."""
    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format, secrets=settings.secret_values())


from mailroute.cli import company, emails, processes, risc, sandbox, tokens  # noqa: E402

for module in (processes, sandbox, company, emails, tokens, risc):
    module.register(main)

if __name__ == "__main__":
    main()
