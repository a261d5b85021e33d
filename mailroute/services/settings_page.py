"""The Email settings page's use cases: what the page shows, and what its Check now, Revoke
Access, send form and Retry buttons do. Each takes the page's ports (`SettingsPagePorts`, which
`bootstrap.WebServices` satisfies) and returns what happened; the words, the notices and the
HTML are the web's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mailroute.config.settings import Settings
from mailroute.core.connection import ConnectionState
from mailroute.core.connection_ports import ConnectionStore
from mailroute.core.ports import CompanyLookup, RecentEmails
from mailroute.core.records import Company, EmailView
from mailroute.events import FieldProblem, InvalidEventError
from mailroute.events.ids import is_canonical_uuid
from mailroute.services.connections import GmailConnections, Revoked
from mailroute.services.dependencies import Dependencies
from mailroute.services.dispatching import (
    DispatchOutcome,
    RetryRefused,
    count_failed_while_not_connected,
    redispatch_failed,
)
from mailroute.services.email_settings import EmailSettings, email_settings
from mailroute.services.intake import Accepted, Intake

# The page checks an active connection itself when it was last verified longer ago than this.
VERIFY_AFTER = timedelta(minutes=1)
# The send form's refusal of Gmail while it cannot send (the same rule as a refused retry's).
GMAIL_NOT_ACTIVE = FieldProblem(
    "sender",
    "gmail_connected",
    "Gmail is not connected: choose the default address, or re-authorize Gmail first.",
)


class SettingsPagePorts(Protocol):
    """What the page's use cases read and call."""

    @property
    def settings(self) -> Settings: ...
    @property
    def companies(self) -> CompanyLookup: ...
    @property
    def connections(self) -> ConnectionStore: ...
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
    verify_due: bool  # the page runs Check now by itself once loaded
    retry_count: int  # N of "Retry N emails that failed while Gmail was not connected"
    emails: list[EmailView]


def email_settings_page(company_id: str, ports: SettingsPagePorts) -> EmailSettingsPage | None:
    """What the page shows the company's admin; None when the company no longer exists."""
    company = ports.companies.get(company_id)
    if company is None:
        return None
    view = email_settings(
        ports.connections.for_company(company_id),
        company_name=company.name,
        default_from=ports.settings.default_from,
    )
    now = datetime.now(UTC)
    active = view.state == "active"
    # Only an active connection can have a "last break" behind it (generation - 1).
    retry_count = count_failed_while_not_connected(company_id, ports.deps) if active else 0
    verify_due = active and (
        view.last_verified_at is None or now - view.last_verified_at > VERIFY_AFTER
    )
    emails = ports.emails.recent(company_id)
    return EmailSettingsPage(company, view, now, verify_due, retry_count, emails)


@dataclass(frozen=True)
class ConnectionCheck:
    state: ConnectionState  # after the check
    changed: bool  # the check moved the connection to another state (it broke)
    problem: str | None  # why the connection could not be checked just now


def check_connection(company_id: str, ports: SettingsPagePorts) -> ConnectionCheck:
    """Check now: refresh the token, and say whether that changed the connection's state."""
    before = ports.connections.for_company(company_id)
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


@dataclass(frozen=True)
class SendForm:
    to: str  # comma-separated addresses
    subject: str
    message: str
    sender: str  # "gmail" or "default"; anything else is the default sender


def send_from_settings_page(
    company_id: str, form: SendForm, ports: SettingsPagePorts, *, correlation_id: str
) -> Accepted | list[FieldProblem]:
    """The send form, through the same intake as POST /v1/emails: accepted, or the problems
    (nothing stored). Gmail is refused up front while it cannot send."""
    if form.sender == "gmail":
        record = ports.connections.for_company(company_id)
        if record is None or record.state != "active":
            return [GMAIL_NOT_ACTIVE]
    data: dict[str, Any] = {
        "to": [a.strip() for a in form.to.split(",") if a.strip()],
        "subject": form.subject,
        "text": form.message,
        "sender": form.sender if form.sender in ("gmail", "default") else "default",
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
