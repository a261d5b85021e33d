"""Companies, their keys and admins: company create, company delete, key create, login-link,
demo."""

from __future__ import annotations

import json

import click

from mailroute.bootstrap import CliServices
from mailroute.bootstrap.retention import company_deleter
from mailroute.cli.context import services
from mailroute.core.company_rules import parse_new_company
from mailroute.events import InvalidEventError
from mailroute.events.ids import UUID_MESSAGE, is_canonical_uuid

DEMO_COMPANY_ID = "00000000-0000-4000-8000-00000000d3e0"


def register(main: click.Group) -> None:
    for command in (company, key, login_link, demo):
        main.add_command(command)


@click.group()
def company() -> None:
    """Create and delete companies."""


@company.command("create")
@click.option("--name", required=True)
@click.option("--reply-to", required=True, help="the company's own address, used as Reply-To")
@click.option("--admin-email", multiple=True, help="an admin who gets connection notices")
def company_create(name: str, reply_to: str, admin_email: tuple[str, ...]) -> None:
    """Create a company; its name and addresses are checked like an email request's fields."""
    try:
        new = parse_new_company(
            {"name": name, "reply_to": reply_to, "admin_emails": list(admin_email)}
        )
    except InvalidEventError as exc:
        for p in exc.problems:
            click.echo(f"{p.field}: {p.message} ({p.rule})", err=True)
        raise SystemExit(2) from None
    with services() as built:
        created = built.companies.create(new.name, new.reply_to)
        for email in new.admin_emails:
            built.companies.add_user(created.id, email, "admin")
    click.echo(json.dumps({"id": created.id, "name": created.name, "reply_to": created.reply_to}))


@company.command("delete")
@click.option("--id", "company_id", required=True, help="the company's id")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def company_delete(company_id: str, yes: bool) -> None:
    """Delete a company and all of its data, after revoking its Gmail grant at Google."""
    if not is_canonical_uuid(company_id):
        raise click.BadParameter(UUID_MESSAGE, param_hint="--id")
    with services() as built:
        found = built.companies.get(company_id)
        if found is None:
            raise click.ClickException(f"company: no company with id {company_id!r}")
        if not yes:
            click.confirm(
                f"Delete {found.name} ({found.id}): its emails, users, keys, Gmail connection"
                " and webhooks, for good?",
                abort=True,
            )
        deleted = company_deleter(built)(company_id)
    if deleted is None:
        raise click.ClickException(f"company: no company with id {company_id!r}")
    click.echo(json.dumps(deleted.as_json()))


@click.group()
def key() -> None:
    """Create API keys."""


@key.command("create")
@click.option("--company", "company_id", required=True)
@click.option("--role", type=click.Choice(["admin", "sender"]), required=True)
@click.option("--label", default="")
def key_create(company_id: str, role: str, label: str) -> None:
    """Print a new API key (shown once; only its hash is stored)."""
    with services() as built:
        if built.companies.get(company_id) is None:
            raise click.ClickException(f"company: no company with id {company_id!r}")
        click.echo(built.companies.create_api_key(company_id, role, label=label))  # type: ignore[arg-type]


def login_url(built: CliServices, company_id: str, email: str | None = None) -> str:
    """A one-time URL that signs the company's admin in to the Email settings page.

    Raises `click.ClickException` when the company has no such admin."""
    admin = built.login_links.find_admin(company_id, email)
    if admin is None:
        raise click.ClickException(
            f"company {company_id!r} has no admin {email}"
            if email
            else f"company {company_id!r} is unknown or has no admin user"
        )
    token = built.login_links.create(admin)
    return f"{built.settings.public_base_url.rstrip('/')}/login/{token}"


@click.command("login-link")
@click.option("--company", "company_id", required=True, help="the company's id")
@click.option("--email", default=None, help="which admin (default: the company's first admin)")
def login_link(company_id: str, email: str | None) -> None:
    """Print a one-time link (valid 15 minutes) to the company's Email settings page."""
    with services() as built:
        click.echo(login_url(built, company_id, email))


@click.command()
def demo() -> None:
    """Seed the demo company with an admin and a sender key; print how to use them."""
    with services() as built:
        click.echo(_demo(built))


def _demo(built: CliServices) -> str:
    settings = built.settings
    companies = built.companies
    found = companies.get(DEMO_COMPANY_ID)
    if found is None:
        found = companies.create(
            "Acme Demo Ltd", "billing@acme-demo.test", company_id=DEMO_COMPANY_ID
        )
    admin_id = companies.add_user(found.id, "admin@acme-demo.test", "admin", "Ada Admin")
    admin_key = companies.create_api_key(found.id, "admin", label="demo", user_id=admin_id)
    sender_key = companies.create_api_key(found.id, "sender", label="demo")
    base = settings.public_base_url.rstrip("/")
    return "\n".join(
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
            f"  settings page   {login_url(built, found.id)}",
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
