"""Outcome webhooks, the rules without I/O: what an endpoint may subscribe to, which event it
receives, when the next attempt is due, when an endpoint is disabled, how long a rotated secret
keeps signing.

Event types are the routing keys of the outcome events (`email.sent`, …); a subscription names
them, or a family with a wildcard (`email.*`). A delivery is tried at once, then after each
delay of the retry schedule (Svix's, which the Standard Webhooks spec recommends in spirit:
5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h — about 28 hours in all), with a little jitter; only a
2xx answer is a success. An endpoint whose attempts have all failed for `disable_after` (5 days
by default), or that answered 410 Gone, is disabled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailroute.config.webhook_settings import WEBHOOK_RETRY_SCHEDULE

EVENT_TYPES = ("email.sent", "email.failed", "connection.auth_broken", "connection.changed")
WILDCARDS = ("email.*", "connection.*")
SUBSCRIBABLE = (*EVENT_TYPES, *WILDCARDS)
MAX_EVENT_TYPES = len(SUBSCRIBABLE)
MAX_ENDPOINTS_PER_COMPANY = 20
MAX_DESCRIPTION = 200
# What an attempt keeps of the receiver's answer.
RESPONSE_BODY_LIMIT = 1024
# A rotated-out secret keeps signing this long by default, and at most this long.
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=7)
DEFAULT_RETRY_SCHEDULE = WEBHOOK_RETRY_SCHEDULE
GONE = 410

Problem = tuple[str, str, str]  # (field, rule, message)


def subscribes(patterns: Sequence[str], event_type: str) -> bool:
    """An endpoint subscribed to `patterns` receives `event_type`: named, or its family's
    wildcard (`email.*` receives `email.sent`, not `emails.sent` nor `email`)."""
    family, dot, _rest = event_type.partition(".")
    return event_type in patterns or (bool(dot) and f"{family}.*" in patterns)


def subscription_problems(patterns: Sequence[str]) -> list[Problem]:
    """What is wrong with a subscription, each entry naming the field and rule."""
    if not patterns:
        return [("event_types", "not_empty", "subscribe to at least one event type")]
    if len(patterns) > MAX_EVENT_TYPES:
        return [("event_types", "max_items", f"at most {MAX_EVENT_TYPES} event types")]
    problems: list[Problem] = []
    for index, pattern in enumerate(patterns):
        if pattern not in SUBSCRIBABLE:
            known = ", ".join(SUBSCRIBABLE)
            problems.append((f"event_types[{index}]", "one_of", f"must be one of {known}"))
        elif pattern in patterns[:index]:
            problems.append((f"event_types[{index}]", "unique", f"{pattern} is listed twice"))
    return problems


def description_problems(description: str) -> list[Problem]:
    if len(description) > MAX_DESCRIPTION:
        return [("description", "max_length", f"at most {MAX_DESCRIPTION} characters")]
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in description):
        return [("description", "control_characters", "no control characters or line breaks")]
    if any(0xD800 <= ord(c) <= 0xDFFF for c in description):
        return [("description", "invalid_unicode", "no lone surrogates")]
    return []


def overlap_problems(overlap_seconds: int) -> list[Problem]:
    if not 0 <= overlap_seconds <= MAX_OVERLAP.total_seconds():
        limit = int(MAX_OVERLAP.total_seconds())
        return [("overlap_seconds", "range", f"must be 0 to {limit} seconds (7 days)")]
    return []


def is_success(status_code: int | None) -> bool:
    """Only a 2xx answer delivers; a redirect, a timeout or a refused connection does not."""
    return status_code is not None and 200 <= status_code < 300


@dataclass(frozen=True)
class RetrySchedule:
    """The delays, in seconds, after the first attempt; `jitter` adds up to that fraction."""

    delays: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    jitter: float = 0.1

    @property
    def max_attempts(self) -> int:
        return 1 + len(self.delays)

    def next_delay(self, attempts_made: int, *, spread: float = 0.0) -> float | None:
        """Seconds until the next attempt after `attempts_made` attempts failed, or None when
        the schedule is spent. `spread` (0 to 1, random in production) places the jitter."""
        if attempts_made < 1 or attempts_made > len(self.delays):
            return None
        return self.delays[attempts_made - 1] * (1.0 + self.jitter * min(max(spread, 0.0), 1.0))


@dataclass(frozen=True)
class DisablePolicy:
    """An endpoint is disabled when every attempt has failed for `after`, or it said 410."""

    after: timedelta = timedelta(days=5)

    def reason(
        self, *, failing_since: datetime | None, now: datetime, status_code: int | None
    ) -> str | None:
        """Why the endpoint is disabled after this failed attempt, or None to go on."""
        if status_code == GONE:
            return "the endpoint answered 410 Gone"
        if failing_since is not None and now - failing_since >= self.after:
            days = self.after.total_seconds() / 86400
            return f"every delivery attempt failed for {days:g} days"
        return None
