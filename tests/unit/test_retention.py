"""Retention, decided without I/O: what is purged or pruned and when, how the clock's pruning
spends its batches, that a purged email is never sent again, and the settings' checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailroute.adapters.db.retention import prune_statement
from mailroute.config.settings import Settings, SettingsError
from mailroute.core.model import Route
from mailroute.core.retention import (
    ContentPurgedError,
    Prune,
    RetentionPolicy,
    RetentionStore,
    content_purgeable,
)
from mailroute.services.company_deletion import CompanyDeleted
from mailroute.services.dispatching import RetryRefused, redispatch_failed
from mailroute.services.intake import Intake
from mailroute.services.retention import RetentionPruner
from tests.fakes import FakeEmails, InMemory, email_request, make_dependencies

NOW = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
POLICY = RetentionPolicy(content=timedelta(days=30), outbox=timedelta(days=1))


@pytest.mark.parametrize("status", ["accepted", "queued", "sending", "retrying"])
def test_an_email_that_has_not_ended_keeps_its_content_whatever_its_age(status: str) -> None:
    assert not content_purgeable(status, None, NOW - timedelta(days=3650), NOW, POLICY)


@pytest.mark.parametrize("status", ["sent", "failed"])
def test_an_ended_email_keeps_its_content_for_the_retention_and_loses_it_after(
    status: str,
) -> None:
    assert not content_purgeable(status, None, NOW - timedelta(days=29), NOW, POLICY)
    assert content_purgeable(status, None, NOW - timedelta(days=30, seconds=1), NOW, POLICY)


def test_a_dead_lettered_email_keeps_its_content_while_its_dead_message_can_be_replayed() -> None:
    short = RetentionPolicy(content=timedelta(days=2), dead_message_ttl=timedelta(days=7))
    assert content_purgeable("failed", "smtp_rejected", NOW - timedelta(days=3), NOW, short)
    assert not content_purgeable("failed", "dead_lettered", NOW - timedelta(days=3), NOW, short)
    assert content_purgeable("failed", "dead_lettered", NOW - timedelta(days=8), NOW, short)


def test_each_thing_pruned_has_its_age_from_the_settings() -> None:
    settings = Settings.from_env({"RETENTION_DAYS": "10", "OUTBOX_RETENTION_DAYS": "0.5"})
    policy = RetentionPolicy.from_days(settings.retention_days, settings.outbox_retention_days)
    ages = policy.ages()

    assert set(ages) == set(Prune)
    assert ages[Prune.EMAIL_CONTENT] == timedelta(days=10)
    assert ages[Prune.DEAD_LETTERED_CONTENT] == timedelta(days=10)  # the XQ's 7 days are less
    assert ages[Prune.PUBLISHED_OUTBOX] == timedelta(hours=12)
    assert ages[Prune.REFUSED_OUTBOX] == timedelta(days=10)  # kept for its reason
    assert ages[Prune.REJECTED_MESSAGES] == timedelta(days=10)
    assert ages[Prune.WEBHOOK_DELIVERIES] == timedelta(days=10)
    assert ages[Prune.OAUTH_STATES] == ages[Prune.LOGIN_LINKS] == timedelta(days=1)
    assert ages[Prune.BROWSER_SESSIONS] == timedelta(0)


def test_the_clock_prunes_every_ten_seconds_or_faster_for_a_retention_of_seconds() -> None:
    assert RetentionPolicy().every_seconds == 10.0
    assert RetentionPolicy(content=timedelta(seconds=6)).every_seconds == 3.0
    assert RetentionPolicy(content=timedelta(seconds=1)).every_seconds == 1.0


@pytest.mark.parametrize("what", list(Prune))
def test_every_prune_is_one_statement_that_takes_a_bounded_batch_and_skips_locked_rows(
    what: Prune,
) -> None:
    statement = prune_statement(what)
    assert "LIMIT %(limit)s FOR UPDATE SKIP LOCKED" in statement
    assert "now() - %(age)s" in statement


class FakeRetentionStore(RetentionStore):
    """Rows waiting per thing; `prune` takes up to `limit` of them and records the call."""

    def __init__(self, waiting: dict[Prune, int]) -> None:
        self.waiting = dict(waiting)
        self.calls: list[tuple[Prune, timedelta, int]] = []

    def prune(self, what: Prune, *, older_than: timedelta, limit: int) -> int:
        self.calls.append((what, older_than, limit))
        taken = min(limit, self.waiting.get(what, 0))
        self.waiting[what] = self.waiting.get(what, 0) - taken
        return taken


def test_a_tick_runs_one_short_statement_per_thing_when_little_waits() -> None:
    store = FakeRetentionStore({Prune.PUBLISHED_OUTBOX: 7})

    pruned = RetentionPruner(store, POLICY).prune_once()

    assert pruned[Prune.PUBLISHED_OUTBOX] == 7
    assert len(store.calls) == len(Prune)
    assert (Prune.PUBLISHED_OUTBOX, timedelta(days=1), 500) in store.calls


class TickClock:
    """A monotonic clock that moves `step` seconds with every statement the store runs."""

    def __init__(self, store: FakeRetentionStore, step: float) -> None:
        self.store = store
        self.step = step

    def __call__(self) -> float:
        return len(self.store.calls) * self.step


def test_a_backlog_the_budget_allows_is_caught_up_in_one_tick_in_bounded_batches() -> None:
    policy = RetentionPolicy(batch=100, budget_seconds=2.0)
    store = FakeRetentionStore({Prune.EMAIL_CONTENT: 1_050})
    pruner = RetentionPruner(store, policy, monotonic=TickClock(store, 0.005))

    first = pruner.prune_once()

    assert first[Prune.EMAIL_CONTENT] == 1_050
    assert store.waiting[Prune.EMAIL_CONTENT] == 0
    assert all(limit == 100 for _what, _age, limit in store.calls)
    assert [what for what, _age, _limit in store.calls].count(Prune.EMAIL_CONTENT) == 11


def test_a_backlog_larger_than_the_budget_is_shared_between_the_things_behind_and_resumed() -> None:
    policy = RetentionPolicy(batch=100, budget_seconds=1.0)
    store = FakeRetentionStore({Prune.EMAIL_CONTENT: 100_000, Prune.PUBLISHED_OUTBOX: 100_000})
    pruner = RetentionPruner(store, policy, monotonic=TickClock(store, 0.01))

    first = pruner.prune_once()
    second = pruner.prune_once()

    assert 100 < first[Prune.EMAIL_CONTENT] < 100_000
    assert first[Prune.EMAIL_CONTENT] == first[Prune.PUBLISHED_OUTBOX]
    assert second[Prune.EMAIL_CONTENT] == first[Prune.EMAIL_CONTENT]
    assert store.waiting[Prune.EMAIL_CONTENT] == 100_000 - 2 * first[Prune.EMAIL_CONTENT]


def test_a_tick_without_budget_still_runs_one_statement_per_thing() -> None:
    store = FakeRetentionStore({Prune.EMAIL_CONTENT: 1_000})

    pruned = RetentionPruner(store, RetentionPolicy(batch=100, budget_seconds=0)).prune_once()

    assert pruned[Prune.EMAIL_CONTENT] == 100
    assert len(store.calls) == len(Prune)


class PurgingEmails(FakeEmails):
    """The fake emails record, with content purged as the real one purges it: `purged` maps an
    email id to when."""

    def __init__(self, fakes: InMemory) -> None:
        super().__init__(fakes.companies, fakes.outbox)
        self.purged: dict[str, datetime] = {}

    def retry_target(self, email_id: str, company_id: str) -> tuple[str, str, str | None] | None:
        found = super().retry_target(email_id, company_id)
        if found and found[0] == "failed" and email_id in self.purged:
            raise ContentPurgedError(self.purged[email_id])
        return found

    def redispatch(
        self, email_id: str, company_id: str, *, route: Route, from_address: str
    ) -> bool:
        if email_id in self.purged:
            raise ContentPurgedError(self.purged[email_id])
        return super().redispatch(email_id, company_id, route=route, from_address=from_address)


def test_a_failed_email_whose_content_was_purged_is_refused_a_retry_naming_the_rule() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    emails = PurgingEmails(fakes)
    intake = Intake(fakes.companies, emails, fakes.outbox, fakes.queue, 25 * 1024 * 1024)
    email_id = intake.accept(email_request(company.id)).email_id
    emails.row(email_id).status = "failed"
    emails.purged[email_id] = NOW
    queued_before = len(fakes.queue.messages)

    refused = redispatch_failed(email_id, company.id, make_dependencies(fakes, emails=emails))

    assert isinstance(refused, RetryRefused)
    assert (refused.status, refused.code) == (409, "content_purged")
    assert (refused.field, refused.rule) == ("content_purged_at", "content_purged")
    assert "2026-12-31 12:00 UTC" in refused.message
    assert emails.row(email_id).status == "failed"
    assert len(fakes.queue.messages) == queued_before


def test_a_deleted_company_says_whether_google_confirmed_its_revocation() -> None:
    connected = CompanyDeleted("c-1", "owner@acme.example", False, "Google is down")
    never = CompanyDeleted("c-2", None, None)

    assert connected.as_json()["gmail_revocation"] == {
        "address": "owner@acme.example",
        "google_confirmed": False,
        "problem": "Google is down",
    }
    assert never.as_json() == {"id": "c-2", "deleted": True, "gmail_revocation": None}


def test_retention_defaults_to_thirty_days_of_content_and_a_day_of_outbox() -> None:
    settings = Settings.from_env({})
    assert (settings.retention_days, settings.outbox_retention_days) == (30.0, 1.0)


def test_retention_may_be_a_fraction_of_a_day_for_tests_and_soak_runs() -> None:
    settings = Settings.from_env({"RETENTION_DAYS": "0.0001", "OUTBOX_RETENTION_DAYS": "0.00005"})
    policy = RetentionPolicy.from_days(settings.retention_days, settings.outbox_retention_days)
    assert policy.content == timedelta(seconds=8.64)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "40000"])
def test_a_retention_that_is_not_a_positive_number_of_days_stops_the_process(value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"RETENTION_DAYS": value, "OUTBOX_RETENTION_DAYS": value})
    assert "RETENTION_DAYS: must be over 0" in str(refused.value)
    assert "OUTBOX_RETENTION_DAYS: must be over 0" in str(refused.value)
