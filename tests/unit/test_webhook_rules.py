"""The pure rules of outcome webhooks: who receives which event, when the next attempt is due,
when an endpoint is disabled, how long a rotated secret signs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailroute.config.settings import Settings
from mailroute.core.webhook_rules import (
    EVENT_TYPES,
    DisablePolicy,
    RetrySchedule,
    description_problems,
    is_success,
    overlap_problems,
    subscribes,
    subscription_problems,
)

NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        (["email.sent"], "email.sent", True),
        (["email.sent"], "email.failed", False),
        (["email.*"], "email.sent", True),
        (["email.*"], "email.failed", True),
        (["email.*"], "connection.changed", False),
        (["connection.*"], "connection.auth_broken", True),
        (["connection.*"], "connection.changed", True),
        (["email.*"], "emails.sent", False),
        (["email.*"], "email", False),
        (["email.failed", "connection.changed"], "connection.changed", True),
        ([], "email.sent", False),
    ],
)
def test_an_endpoint_receives_the_event_types_it_names_and_its_families(
    patterns: list[str], event_type: str, expected: bool
) -> None:
    assert subscribes(patterns, event_type) is expected


def test_every_outcome_event_can_be_subscribed_to_by_name_and_by_its_family() -> None:
    for event_type in EVENT_TYPES:
        assert subscribes([event_type], event_type)
        assert subscribes([event_type.split(".")[0] + ".*"], event_type)


@pytest.mark.parametrize(
    ("patterns", "problem"),
    [
        ([], ("event_types", "not_empty")),
        (["email.opened"], ("event_types[0]", "one_of")),
        (["email.sent", "*"], ("event_types[1]", "one_of")),
        (["email.sent", "email.sent"], ("event_types[1]", "unique")),
        (["email.sent"] * 7, ("event_types", "max_items")),
    ],
)
def test_a_subscription_names_only_known_types_once(
    patterns: list[str], problem: tuple[str, str]
) -> None:
    assert [p[:2] for p in subscription_problems(patterns)][:1] == [problem]


def test_a_subscription_to_known_types_and_wildcards_is_accepted() -> None:
    assert subscription_problems(["email.*", "connection.auth_broken"]) == []


def test_only_a_2xx_answer_is_a_success() -> None:
    assert [is_success(code) for code in (200, 204, 299)] == [True] * 3
    assert [is_success(code) for code in (None, 199, 301, 302, 404, 410, 500)] == [False] * 7


def test_the_default_schedule_retries_for_more_than_a_day_after_the_first_attempt() -> None:
    schedule = RetrySchedule(Settings.from_env({}).webhook_retry_schedule, jitter=0.0)
    delays = [schedule.next_delay(n) for n in range(1, schedule.max_attempts)]
    assert delays == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert sum(d for d in delays if d is not None) > 86400
    assert schedule.next_delay(schedule.max_attempts) is None  # the eighth attempt was the last
    assert schedule.max_attempts == 8


def test_the_jitter_only_ever_adds_a_little() -> None:
    schedule = RetrySchedule((100.0, 200.0), jitter=0.1)
    assert schedule.next_delay(1, spread=0.0) == 100
    assert schedule.next_delay(1, spread=1.0) == pytest.approx(110)
    assert schedule.next_delay(2, spread=0.5) == pytest.approx(210)
    assert schedule.next_delay(1, spread=7.0) == pytest.approx(110)  # clamped
    assert schedule.next_delay(3, spread=0.5) is None
    assert schedule.next_delay(0) is None


def test_a_short_schedule_from_the_settings_is_followed() -> None:
    settings = Settings.from_env({"WEBHOOK_RETRY_SCHEDULE": "1, 2,3"})
    schedule = RetrySchedule(settings.webhook_retry_schedule, jitter=0.0)
    assert [schedule.next_delay(n) for n in (1, 2, 3, 4)] == [1, 2, 3, None]


def test_an_endpoint_failing_for_the_configured_days_is_disabled_and_not_before() -> None:
    policy = DisablePolicy(after=timedelta(days=5))
    almost = NOW - timedelta(days=5) + timedelta(seconds=1)
    assert policy.reason(failing_since=almost, now=NOW, status_code=500) is None
    reason = policy.reason(failing_since=NOW - timedelta(days=5), now=NOW, status_code=500)
    assert reason == "every delivery attempt failed for 5 days"
    assert policy.reason(failing_since=None, now=NOW, status_code=None) is None


def test_an_endpoint_that_answers_410_gone_is_disabled_at_once() -> None:
    policy = DisablePolicy(after=timedelta(days=5))
    assert policy.reason(failing_since=NOW, now=NOW, status_code=410) == (
        "the endpoint answered 410 Gone"
    )


def test_the_disable_days_come_from_the_settings() -> None:
    settings = Settings.from_env({"WEBHOOK_DISABLE_AFTER_DAYS": "0.5"})
    policy = DisablePolicy(after=timedelta(days=settings.webhook_disable_after_days))
    assert policy.reason(failing_since=NOW - timedelta(hours=12), now=NOW, status_code=503)


@pytest.mark.parametrize(("seconds", "ok"), [(0, True), (86400, True), (604800, True)])
def test_a_rotation_overlap_is_up_to_seven_days(seconds: int, ok: bool) -> None:
    assert (overlap_problems(seconds) == []) is ok


@pytest.mark.parametrize("seconds", [-1, 604801, 10**12])
def test_a_rotation_overlap_outside_its_bounds_is_refused_naming_the_field(seconds: int) -> None:
    assert [p[:2] for p in overlap_problems(seconds)] == [("overlap_seconds", "range")]


@pytest.mark.parametrize(
    ("description", "rule"),
    [
        ("x" * 201, "max_length"),
        ("two\nlines", "control_characters"),
        ("\ud800", "invalid_unicode"),
    ],
)
def test_a_description_is_one_short_line(description: str, rule: str) -> None:
    assert [p[:2] for p in description_problems(description)] == [("description", rule)]


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"WEBHOOK_RETRY_SCHEDULE": "5,x"}, "WEBHOOK_RETRY_SCHEDULE"),
        ({"WEBHOOK_RETRY_SCHEDULE": "5,0"}, "WEBHOOK_RETRY_SCHEDULE"),
        ({"WEBHOOK_DISABLE_AFTER_DAYS": "0"}, "WEBHOOK_DISABLE_AFTER_DAYS"),
        ({"WEBHOOK_TIMEOUT_SECONDS": "2"}, "WEBHOOK_TIMEOUT_SECONDS"),
        (
            {"WEBHOOK_ALLOWED_PRIVATE_NETWORKS": "10.0.0.0/8,lan"},
            "WEBHOOK_ALLOWED_PRIVATE_NETWORKS",
        ),
    ],
)
def test_bad_webhook_settings_stop_the_process_naming_the_variable(
    env: dict[str, str], variable: str
) -> None:
    with pytest.raises(ValueError, match=variable):
        Settings.from_env(env)
