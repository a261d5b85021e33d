"""Pacing arithmetic: slots, what an email does with its slot, and the daily window."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from mailroute.core.pacing import (
    DAY_BUCKET_SECONDS,
    AtConcurrencyCap,
    DailyCapReached,
    PacingPolicy,
    ParkForSlot,
    SendNow,
    SendStart,
    WaitForSlot,
    busy_delay,
    daily_cap_message,
    day_bucket,
    decide_slot,
    sends_in_window,
    why_refused,
    window_frees_at,
)

NOW = datetime(2026, 11, 30, 23, 40, 12, 500_000, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _bucket(at: datetime) -> int:
    return day_bucket(at)


def test_slots_are_spaced_sixty_seconds_over_the_rate() -> None:
    assert PacingPolicy(sends_per_minute=140).interval == timedelta(seconds=60 / 140)
    assert PacingPolicy(sends_per_minute=60).interval == timedelta(seconds=1)


def test_the_default_policy_stays_under_googles_150_sends_a_minute_even_early_and_late() -> None:
    policy = PacingPolicy()
    assert policy.sends_per_minute == 140
    assert policy.most_sends_in_a_minute() < 150
    assert PacingPolicy(sends_per_minute=150).most_sends_in_a_minute() > 150


def test_evenly_spaced_slots_put_at_most_rate_plus_one_in_any_minute() -> None:
    policy = PacingPolicy(sends_per_minute=140)
    slots = [NOW + i * policy.interval for i in range(600)]
    for first in range(0, 600 - 141):
        window_end = slots[first] + timedelta(seconds=60)
        assert sum(1 for s in slots[first:] if s < window_end) <= 141


def test_a_connection_overrides_only_the_limits_it_has() -> None:
    policy = PacingPolicy(sends_per_minute=140, max_concurrent=4, daily_cap=500)
    own = policy.for_account(sends_per_minute=20, max_concurrent=None, daily_cap=2000)
    assert (own.sends_per_minute, own.max_concurrent, own.daily_cap) == (20, 4, 2000)
    assert own.grace_seconds == policy.grace_seconds


@pytest.mark.parametrize(
    ("field", "value"),
    [("sends_per_minute", 0), ("max_concurrent", 0), ("daily_cap", 0), ("max_delay_seconds", 0)],
)
def test_a_policy_refuses_limits_that_could_never_send(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        PacingPolicy(**{field: value})  # type: ignore[arg-type]


def test_a_due_slot_or_one_just_ahead_is_sent_now() -> None:
    policy = PacingPolicy(early_seconds=0.1)
    assert decide_slot(NOW, NOW, policy) == SendNow(NOW)
    assert decide_slot(NOW - timedelta(seconds=1), NOW, policy) == SendNow(
        NOW - timedelta(seconds=1)
    )
    ahead = NOW + timedelta(seconds=0.1)
    assert decide_slot(ahead, NOW, policy) == SendNow(ahead)


def test_a_slot_ahead_is_waited_for_with_a_queue_delay_of_exactly_the_gap() -> None:
    slot = NOW + timedelta(seconds=42.5)
    decision = decide_slot(slot, NOW, PacingPolicy())
    assert decision == WaitForSlot(slot, 42.5)


def test_a_slot_further_than_a_queue_delay_may_wait_is_parked_until_shortly_before_it() -> None:
    policy = PacingPolicy(max_delay_seconds=300, park_lead_seconds=60)
    slot = NOW + timedelta(minutes=20)
    assert decide_slot(NOW + timedelta(seconds=300), NOW, policy) == WaitForSlot(
        NOW + timedelta(seconds=300), 300
    )
    assert decide_slot(slot, NOW, policy) == ParkForSlot(slot, slot - timedelta(seconds=60))


def test_the_park_lead_never_exceeds_half_the_longest_queue_delay() -> None:
    policy = PacingPolicy(max_delay_seconds=30, park_lead_seconds=60)
    slot = NOW + timedelta(minutes=5)
    assert decide_slot(slot, NOW, policy) == ParkForSlot(slot, slot - timedelta(seconds=15))


def test_at_the_concurrency_cap_the_email_comes_back_within_about_a_second() -> None:
    policy = PacingPolicy(busy_retry_seconds=1.0)
    rng = random.Random(7)
    delays = [busy_delay(policy, rng) for _ in range(200)]
    assert all(0.5 <= d <= 1.0 for d in delays)
    assert len({round(d, 3) for d in delays}) > 100  # jittered, not in lockstep


def test_sends_are_counted_in_hour_buckets() -> None:
    assert day_bucket(NOW) == int(datetime(2026, 11, 30, 23, tzinfo=UTC).timestamp())
    assert day_bucket(NOW) % DAY_BUCKET_SECONDS == 0


def test_the_daily_window_covers_at_least_the_last_24_hours_and_at_most_25() -> None:
    buckets = {
        _bucket(NOW): 1,
        _bucket(NOW - 23 * HOUR): 10,
        _bucket(NOW - 24 * HOUR): 100,
        _bucket(NOW - 25 * HOUR): 1000,
    }
    # 24 h ago (23:40 yesterday) is inside the 23:00-yesterday bucket: still counted.
    assert sends_in_window(buckets, NOW) == 111


def test_the_daily_window_frees_when_enough_of_its_oldest_buckets_leave_it() -> None:
    oldest = NOW - 20 * HOUR
    buckets = {_bucket(oldest): 300, _bucket(NOW - 2 * HOUR): 150, _bucket(NOW): 50}
    assert sends_in_window(buckets, NOW) == 500
    frees = window_frees_at(buckets, NOW, cap=500)
    assert frees == datetime.fromtimestamp(_bucket(oldest), UTC) + 25 * HOUR
    assert frees - NOW <= timedelta(hours=5) + HOUR
    # A cap far below the count: the oldest two buckets must go.
    assert window_frees_at(buckets, NOW, cap=100) == datetime.fromtimestamp(
        _bucket(NOW - 2 * HOUR), UTC
    ) + (25 * HOUR)


def test_a_window_with_room_is_free_now() -> None:
    assert window_frees_at({_bucket(NOW): 10}, NOW, cap=500) == NOW


def test_a_refused_start_at_the_daily_cap_waits_for_the_window_otherwise_for_the_lease() -> None:
    policy = PacingPolicy(daily_cap=3)
    full = SendStart(started=False, in_flight=1, day_buckets={_bucket(NOW): 3}, now=NOW)
    refusal = why_refused(full, policy)
    assert refusal == DailyCapReached(
        datetime.fromtimestamp(_bucket(NOW), UTC) + 25 * HOUR, sent_in_window=3
    )
    busy = SendStart(started=False, in_flight=4, day_buckets={_bucket(NOW): 2}, now=NOW)
    assert isinstance(why_refused(busy, policy), AtConcurrencyCap)


def test_the_daily_cap_message_names_the_account_the_cap_and_when_it_frees() -> None:
    text = daily_cap_message("owner@acme.test", 500, datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    assert "owner@acme.test" in text
    assert "500" in text
    assert "2026-12-01 09:00 UTC" in text
