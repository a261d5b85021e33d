"""CLI commands for Gmail connections: one-time login links to the settings page, and token
encryption keys (make one, re-encrypt every stored token under the newest)."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add the Gmail connection commands to the `mailroute` group."""
    main.add_command(login_link)
    main.add_command(tokens)


def login_url(settings: object, company_id: str, email: str | None = None) -> str:
    """A one-time URL that signs the company's admin in to the Email settings page.

    Raises `click.ClickException` when the company has no such admin."""
    from mailroute.adapters.db.login_links import PostgresLoginLinks
    from mailroute.adapters.db.pool import make_pool
    from mailroute.config.settings import Settings

    assert isinstance(settings, Settings)
    pool = make_pool(settings, max_size=1)
    pool.open(wait=True, timeout=10)
    try:
        links = PostgresLoginLinks(pool)
        admin = links.find_admin(company_id, email)
        if admin is None:
            raise click.ClickException(
                f"company {company_id!r} has no admin {email}"
                if email
                else f"company {company_id!r} is unknown or has no admin user"
            )
        token = links.create(admin)
    finally:
        pool.close()
    return f"{settings.public_base_url.rstrip('/')}/login/{token}"


@click.command("login-link")
@click.option("--company", "company_id", required=True, help="the company's id")
@click.option("--email", default=None, help="which admin (default: the company's first admin)")
def login_link(company_id: str, email: str | None) -> None:
    """Print a one-time link (valid 15 minutes) to the company's Email settings page."""
    from mailroute.config.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(login_url(settings, company_id, email))


@click.group()
def tokens() -> None:
    """Token encryption keys (TOKEN_ENCRYPTION_KEYS)."""


@tokens.command("new-key")
def tokens_new_key() -> None:
    """Print a new key. Put it first in TOKEN_ENCRYPTION_KEYS (keep the old ones after it),
    restart, then run `mailroute tokens reencrypt`."""
    from mailroute.adapters.crypto import TokenCipher

    click.echo(TokenCipher.new_key())


@tokens.command("reencrypt")
def tokens_reencrypt() -> None:
    """Re-encrypt every stored token under the newest key; old keys can then be removed."""
    from mailroute.adapters.crypto import TokenCipher
    from mailroute.adapters.db.connections import PostgresConnections
    from mailroute.adapters.db.pool import make_pool
    from mailroute.config.settings import Settings, SettingsError
    from mailroute.core.errors import TokenDecryptionError

    try:
        settings = Settings.from_env()
        cipher = TokenCipher(settings.token_encryption_keys)
    except (SettingsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    pool = make_pool(settings, max_size=1)
    pool.open(wait=True, timeout=10)
    try:
        count = PostgresConnections(pool, cipher).reencrypt_all()
    except TokenDecryptionError as exc:
        raise click.ClickException(
            f"{exc}: add the old key back to TOKEN_ENCRYPTION_KEYS (after the new one)"
        ) from None
    finally:
        pool.close()
    click.echo(f"re-encrypted the tokens of {count} connection(s) under the newest key")
