"""In-memory fakes beside the ports of `mailroute.core.ports`, for unit tests of the use cases and
the actors. Each keeps the conditions of the statement it stands in for (a claim only from
`queued`/`retrying` or our own `sending`, a mark only under its claim key, one winner per break,
a notice sent at most once) and writes the same outbox rows, so a test that passes here asserts
what PostgreSQL would hold. They share state as the real adapters share one database: build
them together with `InMemory()` and hand them to the use cases with `make_dependencies`.

What they leave out: pacing (`Dependencies.pacing` is None; it has its own tests), and the
relay (an outbox row is recorded, and `publish_stored` records its id).
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from mailroute.adapters.db.connection_transitions import AUTH_BROKEN, CONNECTION_CHANGED
from mailroute.adapters.db.email_claims import CLAIM_LEASE, MAX_CLAIMS
from mailroute.adapters.db.email_store import failed_event
from mailroute.adapters.db.outbox import OutboxRow
from mailroute.config.settings import Settings
from mailroute.core.abandoned import AbandonedEmails, Stalled
from mailroute.core.connection import ConnectionState
from mailroute.core.connection_ports import (
    OAuthProvider,
    PendingRevocations,
    RevocationAttempt,
    RevocationReason,
)
from mailroute.core.errors import BrokerUnavailableError, MailrouteError
from mailroute.core.mime import email_id_for
from mailroute.core.model import OutgoingEmail, Route, StoredAttachment
from mailroute.core.ports import (
    CompanyLookup,
    ConnectionBreaks,
    Emails,
    EmailSweeps,
    Envelope,
    MailboxTransports,
    MessageTransport,
    Notices,
    Outbox,
    ProviderReceipt,
    QueuePublisher,
)
from mailroute.core.records import (
    Broken,
    Claim,
    Company,
    ConnectionRecord,
    DeliveryOutcome,
    Mailbox,
    PendingNotice,
    Requeue,
    RouteTarget,
    SenderContext,
    StoreRequest,
    StoreResult,
)
from mailroute.core.routing import MailboxView
from mailroute.events import (
    AuthBroken,
    EmailFailed,
    EmailRequested,
    EmailSent,
    GmailConnectionChanged,
    queues,
)
from mailroute.services.dependencies import Dependencies


def _now() -> datetime:
    return datetime.now(UTC)


class FakeOutbox(Outbox):
    """`outbox_events`: the adapters write rows here; `publish_stored` records their ids."""

    def __init__(self) -> None:
        self.rows: list[OutboxRow] = []
        self.published: list[int] = []
        self._lock = threading.Lock()

    def add_event(self, routing_key: str, payload: dict[str, Any], cid: str | None) -> int:
        return self._add(OutboxRow(0, routing_key, payload, None, cid))

    def add_task(self, queue: str, actor: str, args: list[Any], cid: str | None) -> int:
        return self._add(OutboxRow(0, queue, {"args": args}, actor, cid))

    def _add(self, row: OutboxRow) -> int:
        with self._lock:
            row = dataclasses.replace(row, id=len(self.rows) + 1)
            self.rows.append(row)
            return row.id

    def publish_stored(self, outbox_ids: list[int]) -> None:
        with self._lock:
            self.published.extend(outbox_ids)

    def events(self, routing_key: str) -> list[dict[str, Any]]:
        return [r.payload for r in self.rows if r.routing_key == routing_key and not r.is_task]

    def tasks(self, actor: str) -> list[OutboxRow]:
        return [r for r in self.rows if r.actor_name == actor]


@dataclass
class GmailAccount:
    """A `mailbox_connections` row, as far as routing, claims and breaks read it."""

    id: str
    company_id: str
    address: str
    state: ConnectionState = "active"
    generation: int = 1
    broken_reason: str | None = None
    broken_at: datetime | None = None
    connected_by: str | None = None  # the user's address (the real row holds the user's id)
    provider: str = "gmail"


class FakeCompanies(CompanyLookup):
    """`companies`, their admins and their Gmail connection; `sender_context` is the one read
    routing and the Gmail claim make (`adapters.db.companies.sender_context`)."""

    def __init__(self) -> None:
        self.companies: dict[str, Company] = {}
        self.admins: dict[str, list[str]] = {}
        self.accounts: dict[str, GmailAccount] = {}  # Gmail's, by company id
        self.microsoft: dict[str, GmailAccount] = {}  # Microsoft 365's, by company id
        self.lookups = 0

    def add(
        self,
        name: str = "Acme Ltd",
        *,
        admins: tuple[str, ...] = ("owner@acme.example",),
        default_while_gmail_broken: bool = False,
    ) -> Company:
        company = Company(
            str(uuid.uuid4()), name, "accounts@acme.example", default_while_gmail_broken
        )
        self.companies[company.id] = company
        self.admins[company.id] = list(admins)
        return company

    def get(self, company_id: str) -> Company | None:
        self.lookups += 1
        return self.companies.get(company_id)

    def connect_gmail(
        self,
        company_id: str,
        address: str,
        *,
        state: ConnectionState = "active",
        generation: int = 1,
    ) -> GmailAccount:
        account = GmailAccount(str(uuid.uuid4()), company_id, address, state, generation)
        if state == "not_connected":
            account.broken_reason, account.broken_at = "revoked", _now()
        self.accounts[company_id] = account
        return account

    def connect_microsoft(
        self,
        company_id: str,
        address: str,
        *,
        state: ConnectionState = "active",
        generation: int = 1,
    ) -> GmailAccount:
        account = GmailAccount(
            str(uuid.uuid4()), company_id, address, state, generation, provider="microsoft"
        )
        if state == "not_connected":
            account.broken_reason, account.broken_at = "revoked", _now()
        self.microsoft[company_id] = account
        return account

    def reauthorize(self, company_id: str) -> GmailAccount:
        """Re-authorize Sync (`connect` on an existing row): active again, generation + 1."""
        account = self.accounts[company_id]
        account.state, account.generation = "active", account.generation + 1
        account.broken_reason = account.broken_at = None
        return account

    def account(self, connection_id: str) -> GmailAccount | None:
        every = [*self.accounts.values(), *self.microsoft.values()]
        return next((a for a in every if a.id == connection_id), None)

    def sender_context(self, company_id: str) -> SenderContext | None:
        company = self.companies.get(company_id)
        if company is None:
            return None
        found = [d[company_id] for d in (self.accounts, self.microsoft) if company_id in d]
        return SenderContext(
            company,
            tuple(
                Mailbox(
                    a.id,
                    a.generation,
                    MailboxView(a.state, a.address, a.broken_reason, provider=a.provider),
                )
                for a in found
            ),
        )


@dataclass
class EmailRow:
    """An `emails` row."""

    id: str
    company_id: str
    event_id: str
    sender_choice: str
    status: str
    route: Route | None
    from_address: str | None
    reply_to: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    text: str | None
    html: str | None
    attachments: tuple[StoredAttachment, ...]
    message_id: str
    correlation_id: str | None
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0
    claim_key: str | None = None
    claimed_at: datetime | None = None
    possible_duplicate: bool = False
    provider_message_id: str | None = None
    next_attempt_at: datetime | None = None
    parked: bool = False
    gmail_slot: datetime | None = None
    broken_generation: int | None = None
    failed_at: datetime | None = None
    sent_at: datetime | None = None
    fingerprint: str | None = None


class FakeEmails(Emails):
    """The emails record (`adapters.db.emails.PostgresEmails`): each write is conditional as its
    statement is, and writes the same outbox rows. One lock stands in for row locks."""

    def __init__(self, companies: FakeCompanies, outbox: FakeOutbox) -> None:
        self.companies = companies
        self.outbox = outbox
        self.rows: dict[str, EmailRow] = {}
        self.rejected: list[dict[str, Any]] = []
        self.clock: Callable[[], datetime] = _now
        self._lock = threading.RLock()

    def row(self, email_id: str) -> EmailRow:
        return self.rows[email_id]

    def store_many(self, requests: list[StoreRequest]) -> list[tuple[StoreResult, int | None]]:
        return [
            self.store(
                r.event,
                correlation_id=r.correlation_id,
                route=r.route,
                from_address=r.from_address,
                reply_to=r.reply_to,
                message_id=r.message_id,
                failure=r.failure,
                routed=r.routed,
            )
            for r in requests
        ]

    def store(
        self,
        event: EmailRequested,
        *,
        correlation_id: str | None,
        route: Route | None = None,
        from_address: str | None = None,
        reply_to: str | None = None,
        message_id: str = "",
        failure: tuple[str, str] | None = None,
        routed: bool = False,
    ) -> tuple[StoreResult, int | None]:
        email_id = email_id_for(event.company_id, event.event_id)
        with self._lock:
            found = self.rows.get(email_id)
            if found is not None:  # ON CONFLICT DO NOTHING: nothing at all is written
                same = found.fingerprint in (None, event.fingerprint)
                return StoreResult(
                    email_id,
                    False,
                    found.status,
                    found.route,
                    found.correlation_id,
                    same_request=same,
                ), None
            status = "accepted" if not routed else ("failed" if failure else "queued")
            self.rows[email_id] = EmailRow(
                id=email_id,
                company_id=event.company_id,
                event_id=event.event_id,
                sender_choice=event.sender,
                status=status,
                route=route,
                from_address=from_address,
                reply_to=reply_to if routed else event.reply_to,
                to=tuple(event.to),
                cc=tuple(event.cc),
                bcc=tuple(event.bcc),
                subject=event.subject,
                text=event.text,
                html=event.html,
                attachments=tuple(
                    StoredAttachment(a.filename, a.content_type, a.content)
                    for a in event.attachments
                ),
                message_id=message_id,
                correlation_id=correlation_id,
                error_code=failure[0] if failure else None,
                error_message=failure[1] if failure else None,
                failed_at=self.clock() if failure else None,
                fingerprint=event.fingerprint,
            )
            outbox_id = None
            if not routed:
                outbox_id = self.outbox.add_task(
                    queues.DISPATCH, queues.ROUTE_EMAIL, [email_id], correlation_id
                )
            elif failure:
                payload = failed_event(
                    email_id,
                    event.event_id,
                    event.company_id,
                    route=route,
                    from_address=from_address,
                    failure=failure,
                    correlation_id=correlation_id,
                )
                outbox_id = self.outbox.add_event("email.failed", payload, correlation_id)
            return StoreResult(email_id, True, status, route, correlation_id), outbox_id

    def route_target(self, email_id: str) -> RouteTarget | None:
        row = self.rows.get(email_id)
        context = self.companies.sender_context(row.company_id) if row else None
        if row is None or context is None:
            return None
        return RouteTarget(
            email_id,
            row.event_id,
            row.status,
            row.route,
            row.sender_choice,
            row.reply_to,
            row.correlation_id,
            context,
        )

    def set_route(
        self,
        target: RouteTarget,
        *,
        route: Route | None,
        from_address: str,
        reply_to: str,
        message_id: str,
        failure: tuple[str, str] | None,
    ) -> tuple[bool, int | None]:
        with self._lock:
            row = self.rows.get(target.email_id)
            if row is None or row.status != "accepted":
                return False, None
            row.status = "failed" if failure else "queued"
            row.route, row.from_address, row.reply_to = route, from_address, reply_to
            row.message_id = message_id
            row.error_code, row.error_message = failure or (None, None)
            row.failed_at = self.clock() if failure else None
            if failure is None:
                return True, None
            return True, self._failed_event(row)

    def record_rejected(
        self, *, queue: str, actor: str, message_id: str, reason: str, payload: Any
    ) -> None:
        self.rejected.append(
            {"queue": queue, "actor": actor, "message_id": message_id, "reason": reason}
        )

    def claim(self, email_id: str, claim_key: str, route: Route) -> Claim | None:
        with self._lock:
            row = self.rows.get(email_id)
            now = self.clock()
            if (
                row is None
                or row.route != route
                or row.attempts >= MAX_CLAIMS
                or not (
                    row.status in ("queued", "retrying")
                    or (
                        row.status == "sending"
                        and (
                            row.claim_key == claim_key
                            or (row.claimed_at is not None and row.claimed_at < now - CLAIM_LEASE)
                        )
                    )
                )
            ):
                return None
            row.possible_duplicate = row.possible_duplicate or row.status == "sending"
            row.status, row.claim_key, row.claimed_at = "sending", claim_key, now
            row.attempts += 1
            email = OutgoingEmail(
                row.id,
                row.company_id,
                row.event_id,
                row.subject,
                row.to,
                row.cc,
                row.bcc,
                row.text,
                row.html,
                row.reply_to,
                row.message_id,
                row.attachments,
            )
            sender = self.companies.sender_context(row.company_id) if route == "gmail" else None
            assert row.from_address is not None
            return Claim(
                email,
                row.attempts,
                route,
                row.from_address,
                row.possible_duplicate,
                sender,
                row.correlation_id,
            )

    def claim_many(self, email_ids: list[str], claim_key: str, route: Route) -> list[Claim]:
        claims = [self.claim(email_id, claim_key, route) for email_id in email_ids]
        return [claim for claim in claims if claim is not None]

    def release_claims(self, email_ids: list[str], claim_key: str) -> int:
        released = 0
        with self._lock:
            for email_id in email_ids:
                row = self._claimed(email_id, claim_key)
                if row is not None:
                    row.status, row.claim_key = "queued", None
                    row.attempts = max(row.attempts - 1, 0)
                    released += 1
        return released

    def mark_sent_many(
        self, sent: list[tuple[Claim, ProviderReceipt]], claim_key: str
    ) -> list[int]:
        ids = [
            self.mark_sent(
                claim,
                claim_key,
                provider_message_id=receipt.message_id,
                provider_thread_id=receipt.thread_id,
                submitted_only=receipt.submitted_only,
            )
            for claim, receipt in sent
        ]
        return [outbox_id for outbox_id in ids if outbox_id is not None]

    def _claimed(self, email_id: str, claim_key: str) -> EmailRow | None:
        row = self.rows.get(email_id)
        return row if row and row.status == "sending" and row.claim_key == claim_key else None

    def mark_sent(
        self,
        claim: Claim,
        claim_key: str,
        *,
        provider_message_id: str | None = None,
        provider_thread_id: str | None = None,
        release_lease: str | None = None,
        submitted_only: bool = False,
    ) -> int | None:
        with self._lock:
            row = self._claimed(claim.email.id, claim_key)
            if row is None:
                return None
            row.status, row.sent_at = "sent", self.clock()
            row.provider_message_id = provider_message_id
            row.error_code = row.error_message = None
            event = EmailSent(
                email_id=row.id,
                event_id=row.event_id,
                company_id=row.company_id,
                route=claim.route,
                from_address=claim.from_address,
                message_id=row.message_id,
                provider_message_id=provider_message_id,
                possible_duplicate=row.possible_duplicate,
                sent_at=row.sent_at,
                correlation_id=claim.correlation_id,
                submitted_only=submitted_only,
            )
            return self.outbox.add_event("email.sent", event.to_wire(), claim.correlation_id)

    def mark_retrying(
        self,
        email_id: str,
        claim_key: str,
        *,
        code: str,
        message: str,
        due: datetime,
        parked: bool = False,
    ) -> bool:
        with self._lock:
            row = self._claimed(email_id, claim_key)
            if row is None:
                return False
            row.status, row.parked, row.next_attempt_at = "retrying", parked, due
            row.error_code, row.error_message = code, message
            return True

    def mark_failed(
        self, email_id: str, claim_key: str | None, *, code: str, message: str
    ) -> int | None:
        with self._lock:
            row = self.rows.get(email_id)
            if (
                row is None
                or row.status in ("sent", "failed")
                or (claim_key is not None and row.claim_key != claim_key)
            ):
                return None
            row.status, row.error_code, row.error_message = "failed", code, message
            row.failed_at = self.clock()
            return self._failed_event(row)

    def _failed_event(self, row: EmailRow) -> int:
        assert row.error_code is not None
        assert row.error_message is not None
        assert row.failed_at is not None
        event = EmailFailed(
            email_id=row.id,
            event_id=row.event_id,
            company_id=row.company_id,
            route=row.route,
            from_address=row.from_address,
            error_code=row.error_code,
            error_message=row.error_message,
            failed_at=row.failed_at,
            correlation_id=row.correlation_id,
        )
        return self.outbox.add_event("email.failed", event.to_wire(), row.correlation_id)

    def reroute(self, email_id: str, claim_key: str, *, route: Route, from_address: str) -> bool:
        with self._lock:
            row = self._claimed(email_id, claim_key)
            if row is None:
                return False
            row.status, row.route, row.from_address, row.claim_key = (
                "queued",
                route,
                from_address,
                None,
            )
            return True

    def note_broken_generation(self, email_id: str, generation: int | None) -> None:
        with self._lock:
            row = self.rows.get(email_id)
            if row and row.status == "failed" and (row.error_code or "").endswith("_not_connected"):
                row.broken_generation = generation

    def mark_paced(
        self,
        email_id: str,
        claim_key: str,
        *,
        slot: datetime | None,
        due: datetime,
        parked: bool,
        code: str | None = None,
        message: str | None = None,
    ) -> bool:
        with self._lock:
            row = self._claimed(email_id, claim_key)
            if row is None:
                return False
            row.status, row.parked = ("retrying" if parked else "queued"), parked
            row.attempts, row.claim_key = max(row.attempts - 1, 0), None
            row.gmail_slot, row.next_attempt_at = slot, due
            row.error_code = code if code is not None else row.error_code
            row.error_message = message if message is not None else row.error_message
            return True

    def retry_target(self, email_id: str, company_id: str) -> tuple[str, str, str | None] | None:
        row = self.rows.get(email_id)
        if row is None or row.company_id != company_id:
            return None
        return row.status, row.sender_choice, row.correlation_id

    def redispatch(
        self, email_id: str, company_id: str, *, route: Route, from_address: str
    ) -> bool:
        with self._lock:
            row = self.rows.get(email_id)
            if row is None or row.company_id != company_id or row.status != "failed":
                return False
            row.status, row.route, row.from_address, row.attempts = "queued", route, from_address, 0
            row.error_code = row.error_message = row.failed_at = row.claim_key = None
            row.next_attempt_at, row.parked, row.broken_generation = None, False, None
            return True

    def failed_while_not_connected(
        self, company_id: str, generation: int, *, code: str = "gmail_not_connected"
    ) -> list[str]:
        return [
            r.id
            for r in self.rows.values()
            if r.company_id == company_id
            and r.status == "failed"
            and r.error_code == code
            and r.broken_generation == generation
        ]


@dataclass
class NoticeRow:
    """An `auth_broken_notices` row."""

    connection_id: str
    generation: int
    company_id: str
    reason: str
    address: str | None
    broken_at: datetime
    correlation_id: str | None
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None


class FakeNotices(Notices):
    """One notice per (connection, generation), opened by the break; `deliver_once` as
    `PostgresNotices` does it: a pending notice is taken by one caller at a time (the others
    get `in_flight`), a `MailrouteError` from `send` leaves it pending with one more attempt."""

    def __init__(self, companies: FakeCompanies) -> None:
        self.companies = companies
        self.rows: dict[tuple[str, int], NoticeRow] = {}
        self._taken: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def open(self, notice: NoticeRow) -> None:
        with self._lock:  # ON CONFLICT (connection_id, generation) DO NOTHING
            self.rows.setdefault((notice.connection_id, notice.generation), notice)

    def deliver_once(
        self, connection_id: str, generation: int, send: Callable[[PendingNotice], None]
    ) -> DeliveryOutcome:
        key = (connection_id, generation)
        with self._lock:
            row = self.rows.get(key)
            if row is None:
                return "no_notice"
            if row.status == "sent":
                return "already_sent"
            if key in self._taken:
                return "in_flight"
            self._taken.add(key)
        try:
            company = self.companies.companies[row.company_id]
            account = self.companies.account(connection_id)
            by = [account.connected_by] if account and account.connected_by else []
            notice = PendingNotice(
                connection_id=connection_id,
                generation=generation,
                company_id=row.company_id,
                company_name=company.name,
                address=row.address or "",
                reason=row.reason,
                broken_at=row.broken_at,
                default_while_broken=company.default_while_gmail_broken,
                recipients=tuple(sorted({*self.companies.admins[row.company_id], *by})),
                attempts=row.attempts,
                correlation_id=row.correlation_id,
            )
            try:
                send(notice)
            except MailrouteError as exc:
                row.attempts += 1
                row.last_error = f"{exc.code}: {exc.message}"
                raise
            row.status, row.attempts, row.last_error = "sent", row.attempts + 1, None
            return "sent"
        finally:
            with self._lock:
                self._taken.discard(key)


class FakeBreaks(ConnectionBreaks):
    """The one break (`ConnectionTransitionsSql.break_connection`): active -> not_connected for
    the caller that finds this generation active; with the notice opened, and `AuthBroken`,
    `GmailConnectionChanged` and the notify task written to the outbox, all under one lock."""

    def __init__(self, companies: FakeCompanies, notices: FakeNotices, outbox: FakeOutbox) -> None:
        self.companies = companies
        self.notices = notices
        self.outbox = outbox
        self._lock = threading.Lock()

    def break_connection(
        self, connection_id: str, generation: int, reason: str, correlation_id: str
    ) -> Broken | None:
        with self._lock:
            account = self.companies.account(connection_id)
            if account is None or account.generation != generation or account.state != "active":
                return None
            account.state, account.broken_reason, account.broken_at = (
                "not_connected",
                reason,
                _now(),
            )
            event = AuthBroken(
                connection_id=account.id,
                company_id=account.company_id,
                generation=generation,
                reason=reason,
                broken_at=account.broken_at,
                address=account.address,
                correlation_id=correlation_id,
            )
            self.notices.open(
                NoticeRow(
                    account.id,
                    generation,
                    account.company_id,
                    reason,
                    account.address,
                    account.broken_at,
                    correlation_id,
                )
            )
            changed = GmailConnectionChanged(
                connection_id=account.id,
                company_id=account.company_id,
                state=account.state,
                generation=generation,
                address=account.address,
                reason=reason,
                changed_at=account.broken_at,
            )
            wire = event.to_wire()
            ids = [
                self.outbox.add_event(AUTH_BROKEN, wire, correlation_id),
                self.outbox.add_event(CONNECTION_CHANGED, changed.to_wire(), correlation_id),
                self.outbox.add_task(
                    queues.NOTIFY, queues.NOTIFY_ADMINS_ONCE, [wire], correlation_id
                ),
            ]
            record = ConnectionRecord(
                id=account.id,
                company_id=account.company_id,
                state=account.state,
                address=account.address,
                google_subject=None,
                generation=generation,
                scopes=(),
                connected_by=account.connected_by,
                connected_at=None,
                last_verified_at=None,
                broken_reason=reason,
                broken_at=account.broken_at,
                access_token_expires_at=None,
                daily_cap=500,
                has_refresh_token=True,
            )
            return Broken(event=event, record=record, outbox_ids=ids)


@dataclass(frozen=True)
class Queued:
    """A message put on a queue, as `DramatiqQueues` would publish it."""

    queue: str
    actor: str
    args: tuple[Any, ...]
    delay_seconds: float
    correlation_id: str | None
    message_id: str


class FakeQueue(QueuePublisher):
    """Records what was queued; `unavailable = True` makes it refuse as a broker that cannot
    confirm does."""

    def __init__(self) -> None:
        self.messages: list[Queued] = []
        self.unavailable = False
        self._lock = threading.Lock()

    def enqueue(
        self,
        queue: str,
        actor: str,
        args: tuple[Any, ...],
        *,
        delay_seconds: float = 0.0,
        correlation_id: str | None = None,
    ) -> str:
        if self.unavailable:
            raise BrokerUnavailableError("RabbitMQ did not confirm (fake)")
        message = Queued(queue, actor, args, delay_seconds, correlation_id, uuid.uuid4().hex)
        with self._lock:
            self.messages.append(message)
        return message.message_id

    def schedule_send(
        self,
        route: Route,
        email_id: str,
        delay_seconds: float = 0.0,
        *,
        correlation_id: str | None = None,
    ) -> None:
        queue, actor = queues.SENDERS[route]
        self.enqueue(
            queue, actor, (email_id,), delay_seconds=delay_seconds, correlation_id=correlation_id
        )

    def on(self, queue: str) -> list[Queued]:
        return [m for m in self.messages if m.queue == queue]


@dataclass(frozen=True)
class Handed:
    """One message a transport accepted."""

    message: bytes
    envelope: Envelope

    @property
    def parsed(self) -> EmailMessage:
        return message_from_bytes(self.message, policy=policy.default)


class FakeTransport(MessageTransport):
    """A provider: records what it accepted; `fail_next(error, times)` makes the next sends
    raise that error (one of `core.errors`, as a real adapter translates its vendor's).
    `submitted_only`: it answers as Graph does, accepted without naming the message."""

    def __init__(self, *, submitted_only: bool = False) -> None:
        self.submitted_only = submitted_only
        self.accepted: list[Handed] = []
        self.attempts = 0
        self._failures: list[MailrouteError] = []
        self._lock = threading.Lock()

    def fail_next(self, error: MailrouteError, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([error] * times)

    def send(self, message: bytes, envelope: Envelope) -> ProviderReceipt:
        with self._lock:
            self.attempts += 1
            failure = self._failures.pop(0) if self._failures else None
            if failure is None:
                self.accepted.append(Handed(message, envelope))
                number = len(self.accepted)
        if failure is not None:
            raise failure
        if self.submitted_only:
            return ProviderReceipt(submitted_only=True)
        return ProviderReceipt(message_id=f"provider-{number}")


class FakeMailboxTransports(MailboxTransports):
    """One `FakeTransport` per mailbox connection (`account(connection_id)`); the generation a
    send was pinned to is recorded, not checked."""

    def __init__(self, *, submitted_only: bool = False) -> None:
        self.submitted_only = submitted_only
        self.accounts: dict[str, FakeTransport] = {}
        self.pinned: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def account(self, connection_id: str) -> FakeTransport:
        with self._lock:
            return self.accounts.setdefault(
                connection_id, FakeTransport(submitted_only=self.submitted_only)
            )

    def for_connection(self, connection_id: str, generation: int) -> MessageTransport:
        self.pinned.append((connection_id, generation))
        return self.account(connection_id)


class FakeAbandonedEmails(AbandonedEmails):
    """`PostgresAbandonedEmails` over the fake emails record: the same conditions (an email
    that ended, or another delivery's live claim, is left alone; only `dead_lettered` opens
    again) and the same outbox rows."""

    def __init__(self, emails: FakeEmails) -> None:
        self.emails = emails

    def fail_abandoned(
        self, email_id: str, *, message_id: str, code: str, message: str
    ) -> int | None:
        with self.emails._lock:
            row = self.emails.rows.get(email_id)
            now = self.emails.clock()
            if row is None or row.status in ("sent", "failed"):
                return None
            live = row.claimed_at is not None and row.claimed_at > now - CLAIM_LEASE
            if row.status == "sending" and row.claim_key != message_id and live:
                return None
            row.status, row.error_code, row.error_message = "failed", code, message
            row.failed_at = now
            return self.emails._failed_event(row)

    def store_failed_request(
        self, request: EmailRequested, *, correlation_id: str | None, code: str, message: str
    ) -> int | None:
        stripped = request.model_copy(
            update={"to": [], "cc": [], "bcc": [], "text": None, "html": None, "attachments": []}
        )
        _, outbox_id = self.emails.store(
            stripped, correlation_id=correlation_id, failure=(code, message), routed=True
        )
        return outbox_id

    def reopen_dead_lettered(self, email_id: str, message_id: str) -> tuple[str, str | None] | None:
        with self.emails._lock:
            row = self.emails.rows.get(email_id)
            if row is None or row.status != "failed" or row.error_code != "dead_lettered":
                return None
            if row.route is None:
                row.status = "accepted"
            else:
                row.status = "sending" if row.claim_key == message_id else "queued"
            row.attempts, row.parked, row.next_attempt_at = 0, False, None
            row.error_code = row.error_message = row.failed_at = None
            return row.status, row.correlation_id


class FakeSweeps(EmailSweeps):
    """What the clock's sweeps would find (`found`, handed out once), and the re-drives the
    broker confirmed (`requeued`)."""

    def __init__(self, found: list[Stalled] | None = None) -> None:
        self.found = list(found or [])
        self.confirmed: list[str] = []

    def stalled(self, *, older_than: timedelta, limit: int = 500) -> list[Stalled]:
        found, self.found = self.found[:limit], self.found[limit:]
        return found

    def requeued(self, email_ids: list[str]) -> None:
        self.confirmed.extend(email_ids)

    def due_retries(self, limit: int = 500) -> list[Requeue]:
        return []


@dataclass
class InMemory:
    """Every fake, wired to share state as the real adapters share one database."""

    companies: FakeCompanies = field(default_factory=FakeCompanies)
    outbox: FakeOutbox = field(default_factory=FakeOutbox)
    queue: FakeQueue = field(default_factory=FakeQueue)
    smtp: FakeTransport = field(default_factory=FakeTransport)
    gmail: FakeMailboxTransports = field(default_factory=FakeMailboxTransports)
    microsoft_mailboxes: FakeMailboxTransports = field(
        default_factory=lambda: FakeMailboxTransports(submitted_only=True)
    )
    emails: FakeEmails = field(init=False)
    notices: FakeNotices = field(init=False)
    breaks: FakeBreaks = field(init=False)
    abandoned: FakeAbandonedEmails = field(init=False)

    def __post_init__(self) -> None:
        self.emails = FakeEmails(self.companies, self.outbox)
        self.abandoned = FakeAbandonedEmails(self.emails)
        self.notices = FakeNotices(self.companies)
        self.breaks = FakeBreaks(self.companies, self.notices, self.outbox)


def make_dependencies(fakes: InMemory | None = None, **overrides: Any) -> Dependencies:
    """`Dependencies` over the fakes (new ones when none are given), with the settings of a
    local run and no pacing; `overrides` replace any field (`queue=DramatiqQueues(broker)`,
    `retry_policy=RetryPolicy(max_attempts=3)`)."""
    fakes = fakes or InMemory()
    deps = Dependencies(
        settings=Settings.from_env({}),
        emails=fakes.emails,
        sender_context=fakes.companies.sender_context,
        transports={"default": fakes.smtp},
        queue=fakes.queue,
        outbox=fakes.outbox,
        breaks=fakes.breaks,
        notices=fakes.notices,
        mailboxes={"gmail": fakes.gmail, "microsoft": fakes.microsoft_mailboxes},
    )
    return dataclasses.replace(deps, **overrides)


def email_request(company_id: str, event_id: str | None = None, **fields: Any) -> EmailRequested:
    """A valid `EmailRequested` for the company; `fields` override any of its fields."""
    data: dict[str, Any] = {
        "event_id": event_id or f"invoice-{uuid.uuid4().hex[:8]}",
        "company_id": company_id,
        "kind": "invoice",
        "to": ["Jane Doe <jane@example.com>"],
        "subject": "Invoice 2026-0042 from Acme",
        "text": "Hello Jane, your invoice is attached.",
        **fields,
    }
    return EmailRequested.parse(data)


@dataclass
class PendingRevocationRow:
    id: int
    token: str | None  # None: no configured key decrypts it
    company_id: str
    google_subject: str
    address: str
    reason: str
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    retry_at: datetime | None = None


class FakePendingRevocations(PendingRevocations):
    """`pending_revocations` in memory: claims count attempts; `connected_again` holds the
    Google subjects whose revocations are dropped unasked."""

    def __init__(self) -> None:
        self.rows: list[PendingRevocationRow] = []
        self.connected_again: set[str] = set()

    def queue(
        self,
        token: str,
        *,
        company_id: str,
        google_subject: str,
        address: str,
        reason: RevocationReason,
    ) -> None:
        row = PendingRevocationRow(
            len(self.rows) + 1, token, company_id, google_subject, address, reason
        )
        self.rows.append(row)

    def claim_new(self, company_id: str) -> list[RevocationAttempt]:
        chosen = [r for r in self._pending() if r.company_id == company_id and r.attempts == 0]
        return self._claim(chosen, report_cancelled=True)

    def claim_due(self, limit: int) -> list[RevocationAttempt]:
        due = [r for r in self._pending() if r.retry_at is None or r.retry_at <= _now()]
        return self._claim(due[:limit], report_cancelled=False)

    def confirmed(self, revocation_id: int) -> None:
        row = self.rows[revocation_id - 1]
        row.status, row.token, row.last_error = "confirmed", None, None

    def failed(self, revocation_id: int, *, error: str, retry_at: datetime) -> None:
        row = self.rows[revocation_id - 1]
        row.last_error, row.retry_at = error, retry_at

    def _pending(self) -> list[PendingRevocationRow]:
        return [r for r in self.rows if r.status == "pending"]

    def _claim(
        self, rows: list[PendingRevocationRow], *, report_cancelled: bool
    ) -> list[RevocationAttempt]:
        found: list[RevocationAttempt] = []
        for row in rows:
            cancelled = row.google_subject in self.connected_again
            if cancelled:
                row.status, row.token = "cancelled", None
            else:
                row.attempts += 1
            if report_cancelled or not cancelled:
                found.append(
                    RevocationAttempt(
                        row.id,
                        row.company_id,
                        row.address,
                        row.reason,
                        row.attempts,
                        None if cancelled else row.token,
                        cancelled=cancelled,
                    )
                )
        return found


class FakeGoogleRevocation(OAuthProvider):
    """Google's revoke endpoint only: each answer in `answers` in turn (True: confirmed, False:
    refused, an exception: raised), then confirmed; `asked` records every token."""

    def __init__(self, *answers: bool | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def revoke(self, token: str) -> bool:
        self.asked.append(token)
        answer = self.answers.pop(0) if self.answers else True
        if isinstance(answer, Exception):
            raise answer
        return answer
