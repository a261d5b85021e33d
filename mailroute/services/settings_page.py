"""The Email settings page's use cases: what the page shows, and what its Check now, Revoke
Access (for each provider's mailbox), send form, primary mailbox and Retry buttons do. Each
takes the page's ports (`SettingsPagePorts`, which `bootstrap.WebServices` satisfies) and
returns what happened; the words, the notices and the HTML are the web's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mailroute.config.settings import Settings
from mailroute.core.connection import ConnectionState
from mailroute.core.connection_ports import ConnectionStore
from mailroute.core.ports import CompanyLookup, RecentEmails
from mailroute.core.providers import GMAIL, MICROSOFT, PROVIDERS
from mailroute.core.records import Company, EmailView
from mailroute.events import FieldProblem, InvalidEventError
from mailroute.events.ids import is_canonical_uuid
from mailroute.services.connections import GmailConnections, Revoked, Verification
from mailroute.services.dependencies import Dependencies
from mailroute.services.dispatching import (
    RetryRefused,
    count_failed_while_not_connected,
    redispatch_failed,
)
from mailroute.services.email_settings import EmailSettings, email_settings
from mailroute.services.intake import Accepted, Intake
from mailroute.services.microsoft_connections import MicrosoftConnections, MicrosoftRevoked
from mailroute.services.requested import DispatchOutcome

# The page checks an active connection itself when it was last verified longer ago than this.
VERIFY_AFTER = timedelta(minutes=1)
MICROSOFT_UNAVAILABLE = (
    f"this server is not set up to sign in with Microsoft, so {MICROSOFT.label} cannot be checked"
)
# The send form's refusal of a mailbox while it cannot send (the same rule as a refused retry's).
NOT_ACTIVE = {
    name: FieldProblem(
        "sender",
        f"{name}_connected",
        f"{p.label} is not connected: choose the default address, or re-authorize {p.label} first.",
    )
    for name, p in PROVIDERS.items()
}
GMAIL_NOT_ACTIVE = NOT_ACTIVE[GMAIL.name]


class CompanySettings(CompanyLookup, Protocol):
    def set_primary_provider(self, company_id: str, provider: str | None) -> None: ...


class SettingsPagePorts(Protocol):
    """What the page's use cases read and call (`microsoft` is None when this server is not
    set up to sign in with Microsoft)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def companies(self) -> CompanySettings: ...
    @property
    def connections(self) -> ConnectionStore: ...
    @property
    def microsoft_connections(self) -> ConnectionStore: ...
    @property
    def microsoft(self) -> MicrosoftConnections | None: ...
    @property
    def emails(self) -> RecentEmails: ...
    @property
    def service(self) -> GmailConnections: ...
    @property
    def intake(self) -> Intake: ...
    @property
    def deps(self) -> Dependencies: ...


@dataclass(frozen=True)
class EmailSettingsPage:
    company: Company
    view: EmailSettings
    now: datetime
    verify_due: bool  # the page runs Check now by itself once loaded (Gmail's card)
    retry_count: int  # N of "Retry N emails that failed while Gmail was not connected"
    emails: list[EmailView]
    microsoft_verify_due: bool = False  # the same, for the Microsoft 365 card


def _store(ports: SettingsPagePorts, name: str) -> ConnectionStore:
    return ports.microsoft_connections if name == MICROSOFT.name else ports.connections


def company_email_settings(company: Company, ports: SettingsPagePorts) -> EmailSettings:
    """Every mailbox of the company and its From options (the page's and the API's view)."""
    return email_settings(
        ports.connections.for_company(company.id),
        company_name=company.name,
        default_from=ports.settings.default_from,
        others={MICROSOFT.name: ports.microsoft_connections.for_company(company.id)},
        unavailable=() if ports.microsoft else (MICROSOFT.name,),
    )


def _verify_due(state: ConnectionState, last_verified_at: datetime | None, now: datetime) -> bool:
    return state == "active" and (last_verified_at is None or now - last_verified_at > VERIFY_AFTER)


def email_settings_page(company_id: str, ports: SettingsPagePorts) -> EmailSettingsPage | None:
    """What the page shows the company's admin; None when the company no longer exists."""
    company = ports.companies.get(company_id)
    if company is None:
        return None
    view = company_email_settings(company, ports)
    now = datetime.now(UTC)
    # Only an active connection can have a "last break" behind it (generation - 1).
    active = view.state == "active"
    retry_count = count_failed_while_not_connected(company_id, ports.deps) if active else 0
    verify_due = _verify_due(view.state, view.last_verified_at, now)
    microsoft = view.of(MICROSOFT.name)
    microsoft_due = microsoft.available and _verify_due(
        microsoft.state, microsoft.last_verified_at, now
    )
    emails = ports.emails.recent(company_id)
    return EmailSettingsPage(
        company, view, now, verify_due, retry_count, emails, microsoft_verify_due=microsoft_due
    )


@dataclass(frozen=True)
class ConnectionCheck:
    state: ConnectionState  # after the check
    changed: bool  # the check moved the connection to another state (it broke)
    problem: str | None  # why the connection could not be checked just now


def check_connection(
    company_id: str, ports: SettingsPagePorts, provider_name: str = GMAIL.name
) -> ConnectionCheck:
    """Check now: refresh the token of the provider's mailbox, and say whether that changed the
    connection's state."""
    before = _store(ports, provider_name).for_company(company_id)
    verification: Verification
    if provider_name == MICROSOFT.name:
        if ports.microsoft is None:
            return ConnectionCheck("disconnected", False, MICROSOFT_UNAVAILABLE)
        verification = ports.microsoft.verify(company_id)
    else:
        verification = ports.service.verify(company_id)
    after = verification.record
    changed = (before.state if before else None) != (after.state if after else None)
    state: ConnectionState = after.state if after else "disconnected"
    return ConnectionCheck(state, changed, verification.problem)


def revoke_access(company_id: str, ports: SettingsPagePorts) -> Revoked | None:
    """Revoke Access: what it did (Google's confirmation included), None when none was
    connected."""
    revoked = ports.service.revoke(company_id)
    return revoked if revoked.address is not None else None


def revoke_microsoft(company_id: str, ports: SettingsPagePorts) -> MicrosoftRevoked | None:
    """Revoke Access for Microsoft 365: what it did and what is left to do at Microsoft; None
    when none was connected (or this server cannot sign in with Microsoft)."""
    if ports.microsoft is None:
        return None
    revoked = ports.microsoft.revoke(company_id)
    return revoked if revoked.address is not None else None


def set_primary_mailbox(company_id: str, choice: str, ports: SettingsPagePorts) -> bool:
    """The mailbox `auto` sends from: a provider's name, or "" for the first connected one;
    False (nothing changed) for any other choice."""
    if choice and choice not in PROVIDERS:
        return False
    ports.companies.set_primary_provider(company_id, choice or None)
    return True


@dataclass(frozen=True)
class SendForm:
    to: str  # comma-separated addresses
    subject: str
    message: str
    sender: str  # a provider's name or "default"; anything else is the default sender


def send_from_settings_page(
    company_id: str, form: SendForm, ports: SettingsPagePorts, *, correlation_id: str
) -> Accepted | list[FieldProblem]:
    """The send form, through the same intake as POST /v1/emails: accepted, or the problems
    (nothing stored). A mailbox is refused up front while it cannot send."""
    if form.sender in PROVIDERS:
        record = _store(ports, form.sender).for_company(company_id)
        if record is None or record.state != "active":
            return [NOT_ACTIVE[form.sender]]
    data: dict[str, Any] = {
        "to": [a.strip() for a in form.to.split(",") if a.strip()],
        "subject": form.subject,
        "text": form.message,
        "sender": form.sender if form.sender in PROVIDERS else "default",
        "kind": "other",
    }
    try:
        return ports.intake.accept(data, company_id=company_id, correlation_id=correlation_id)
    except InvalidEventError as exc:
        return list(exc.problems)


def retry_failed_email(
    email_id: str, company_id: str, ports: SettingsPagePorts
) -> DispatchOutcome | RetryRefused:
    """One failed email sent again, as POST /v1/emails/{id}/retry; an id that is not a UUID is
    no such email."""
    if not is_canonical_uuid(email_id):  # `urn:uuid:…` too: PostgreSQL would fail on it
        return RetryRefused(404, "not_found", "email_id", "uuid", "no such email")
    return redispatch_failed(email_id, company_id, ports.deps)
