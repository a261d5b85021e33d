"""Token encryption keys: tokens new-key, tokens reencrypt."""

from __future__ import annotations

import click

from mailroute.adapters.crypto import TokenCipher
from mailroute.cli.context import services


def register(main: click.Group) -> None:
    main.add_command(tokens)


@click.group()
def tokens() -> None:
    """Token encryption keys (TOKEN_ENCRYPTION_KEYS)."""


@tokens.command("new-key")
def tokens_new_key() -> None:
    """Print a new key. Put it first in TOKEN_ENCRYPTION_KEYS (keep the old ones after it),
    restart, then run `mailroute tokens reencrypt`."""
    click.echo(TokenCipher.new_key())


@tokens.command("reencrypt")
def tokens_reencrypt() -> None:
    """Re-encrypt every stored secret (Gmail tokens, tokens waiting to be revoked at Google,
    pending sign-ins' PKCE verifiers, webhook signing secrets) under the newest key; old keys
    can then be removed."""
    with services() as built:
        try:
            done = built.connections().reencrypt_all()
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"re-encrypted the tokens of {done.connections} connection(s) under the newest key,"
        f" {done.revocations} token(s) waiting to be revoked, {done.sign_ins} pending"
        f" sign-in(s) and the signing secrets of {done.webhook_secrets} webhook endpoint(s)"
    )
    if done.unreadable:
        raise click.ClickException(
            "no configured key decrypts the tokens of "
            + ", ".join(done.unreadable)
            + ": add the old key back to TOKEN_ENCRYPTION_KEYS (after the new one) and run"
            " this again, or those connections break at their next use and must be"
            " re-authorized (an endpoint's deliveries fail until its secret is rotated)"
        )
