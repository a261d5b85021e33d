"""Pacing arithmetic for sends through one mailbox: slots, the concurrency cap, the daily cap.

Written for Gmail's limits (below) and used with each provider's own policy: Exchange Online
allows 30 messages a minute, 10,000 recipients in a rolling day and 4 concurrent requests per
mailbox, so a Microsoft mailbox's policy is 30/min, 4 concurrent, and a daily cap counted in
recipients (`send_weight`).

Google allows one user 15,000 quota units a minute and `messages.send` costs 100, so at most 150
sends in any 60 seconds; a few concurrent requests per user; and 500 (consumer) to 2,000
(Workspace) messages in a rolling 24 hours. mailroute stays under all three, per account, with
state shared by every worker process in one PostgreSQL row (`adapters.db.pacing`):

* **Slots.** Each send takes the account's next slot, `interval = 60 s / sends_per_minute` after
  the previous one (`GREATEST(next_slot, now()) + interval`, one atomic UPDATE). Slots are spaced
  evenly, so any 60-second window holds at most `sends_per_minute + 1` of them.
* **A slot is a reservation, used once.** An email whose slot is ahead is put back on the queue
  with a delay (or, when the slot is further than a queue delay may wait, parked for the clock
  until shortly before it) and its slot is written on its row; when it comes back it sends on that
  same slot instead of taking another. So a delayed email is counted once, and emails keep their
  order. A slot that comes back more than `grace_seconds` late (the message was delayed by a
  backlog, a crash, the clock) is stale: it is dropped and a new one taken. A dropped slot only
  leaves a gap, which slows the account a little and never speeds it up.
* **Early and late.** A slot at most `early_seconds` ahead is sent at once. Sending up to `early`
  early and up to `grace` late can put `sends_per_minute * (60 + early + grace) / 60 + 1` sends in
  one 60-second window; with the defaults (140/min, 0.1 s, 2 s) that is 146, under Google's 150.
* **Concurrency cap.** A send also takes a lease on the account (at most `max_concurrent` live
  leases; a lease expires after `lease_seconds` if its worker died). At the cap, the email comes
  back after about `busy_retry_seconds` with its slot held.
* **Daily cap.** Every send started is counted in hour buckets; the cap is checked over the
  current bucket and the 24 before it (a window of 24 to 25 hours, never shorter than Google's 24),
  and frees when the oldest buckets fall out of it.

No thread ever waits for a slot: waiting is a delayed queue message or a parked row. This module
only computes; it does no I/O.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

# Daily counting: hour buckets, the current one and the 24 before it.
DAY_BUCKET_SECONDS = 3600
DAY_WINDOW_BUCKETS = 25


@dataclass(frozen=True)
class PacingPolicy:
    """How fast and how much one Gmail account may send. Defaults sit just under Google's quota."""

    sends_per_minute: float = 140.0
    max_concurrent: int = 4
    daily_cap: int = 500
    # A slot this close ahead is sent at once; one this late is still used (else it is stale).
    early_seconds: float = 0.1
    grace_seconds: float = 2.0
    # Waits up to this long are delayed queue messages; longer ones are parked for the clock and
    # re-published `park_lead_seconds` (at most half the longest delay) before their slot.
    max_delay_seconds: float = 300.0
    park_lead_seconds: float = 60.0
    # At the concurrency cap, try again after about this long.
    busy_retry_seconds: float = 1.0
    # A send's lease on the account expires after this long (its worker died mid-send).
    lease_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.sends_per_minute <= 0:
            raise ValueError("sends_per_minute must be positive")
        if self.max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        if self.daily_cap < 1:
            raise ValueError("daily_cap must be at least 1")
        if self.max_delay_seconds <= 0:
            raise ValueError("max_delay_seconds must be positive")

    @property
    def interval(self) -> timedelta:
        """The spacing of an account's slots."""
        return timedelta(seconds=60.0 / self.sends_per_minute)

    def for_account(
        self,
        *,
        sends_per_minute: float | None = None,
        max_concurrent: int | None = None,
        daily_cap: int | None = None,
    ) -> PacingPolicy:
        """This policy with one connection's own limits, where it has them."""
        return replace(
            self,
            sends_per_minute=sends_per_minute or self.sends_per_minute,
            max_concurrent=max_concurrent or self.max_concurrent,
            daily_cap=daily_cap or self.daily_cap,
        )

    def most_sends_in_a_minute(self) -> int:
        """The most sends any 60-second window can see under this policy (see the docstring)."""
        spread = 60.0 + self.early_seconds + self.grace_seconds
        return int(self.sends_per_minute * spread / 60.0) + 1


def microsoft_policy(
    *, max_delay_seconds: float = 300.0, lease_seconds: float = 120.0
) -> PacingPolicy:
    """A Microsoft mailbox's default policy, under Exchange Online's limits: 30 messages a
    minute (28 slots a minute: with a slot's early and late margins at most 29 sends fall in any
    60 seconds), 4 concurrent requests, 10,000 recipients in a rolling day."""
    return PacingPolicy(
        sends_per_minute=28.0,
        max_concurrent=4,
        daily_cap=10_000,
        max_delay_seconds=max_delay_seconds,
        lease_seconds=lease_seconds,
    )


@dataclass(frozen=True)
class SendNow:
    """The slot is due: start the send."""

    slot: datetime


@dataclass(frozen=True)
class WaitForSlot:
    """Put the email back on the queue with this delay; it keeps its slot."""

    slot: datetime
    delay_seconds: float


@dataclass(frozen=True)
class ParkForSlot:
    """The slot is further than a queue delay may wait: park the email until `due`."""

    slot: datetime
    due: datetime


SlotDecision = SendNow | WaitForSlot | ParkForSlot


def decide_slot(slot: datetime, now: datetime, policy: PacingPolicy) -> SlotDecision:
    """What to do with the slot an email holds, `now` by the database's clock."""
    ahead = (slot - now) / timedelta(seconds=1)
    if ahead <= policy.early_seconds:
        return SendNow(slot)
    if ahead <= policy.max_delay_seconds:
        return WaitForSlot(slot, ahead)
    lead = min(policy.park_lead_seconds, policy.max_delay_seconds / 2)
    return ParkForSlot(slot, slot - timedelta(seconds=lead))


def busy_delay(policy: PacingPolicy, rng: random.Random | None = None) -> float:
    """At the concurrency cap: come back after about `busy_retry_seconds` (jittered, so the
    emails that found the cap full do not all come back at once)."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
    return policy.busy_retry_seconds * rng.uniform(0.5, 1.0)


# -- the daily cap ---------------------------------------------------------------------------


def day_bucket(now: datetime) -> int:
    """The hour bucket (its start, in epoch seconds) a send started at `now` is counted in."""
    epoch = int(now.timestamp())
    return epoch - epoch % DAY_BUCKET_SECONDS


def oldest_counted_bucket(now: datetime) -> int:
    """Buckets older than this have left the daily window."""
    return day_bucket(now) - (DAY_WINDOW_BUCKETS - 1) * DAY_BUCKET_SECONDS


def sends_in_window(buckets: Mapping[int, int], now: datetime) -> int:
    """Sends counted in the daily window at `now`."""
    oldest = oldest_counted_bucket(now)
    return sum(count for start, count in buckets.items() if start >= oldest)


def window_frees_at(buckets: Mapping[int, int], now: datetime, cap: int) -> datetime:
    """When the daily window will have room for one more send (`now` if it has room already)."""
    oldest = oldest_counted_bucket(now)
    live = sorted((start, count) for start, count in buckets.items() if start >= oldest)
    excess = sum(count for _, count in live) - cap + 1
    if excess <= 0:
        return now
    freed = 0
    for start, count in live:
        freed += count
        if freed >= excess:
            leaves = start + DAY_WINDOW_BUCKETS * DAY_BUCKET_SECONDS
            return datetime.fromtimestamp(leaves, UTC)
    raise AssertionError("unreachable: every live bucket leaves the window eventually")


@dataclass(frozen=True)
class SendStart:
    """What the account's row said when a send asked to start."""

    started: bool
    in_flight: int
    day_buckets: Mapping[int, int]
    now: datetime


@dataclass(frozen=True)
class AtConcurrencyCap:
    delay_seconds: float


@dataclass(frozen=True)
class DailyCapReached:
    frees_at: datetime
    sent_in_window: int


Refusal = AtConcurrencyCap | DailyCapReached


def why_refused(
    start: SendStart, policy: PacingPolicy, rng: random.Random | None = None, weight: int = 1
) -> Refusal:
    """A send that did not start: the daily cap (wait for the window to have room for its
    `weight`), else the concurrency cap."""
    sent = sends_in_window(start.day_buckets, start.now)
    if sent + weight > policy.daily_cap:
        room_for = policy.daily_cap - weight + 1
        return DailyCapReached(window_frees_at(start.day_buckets, start.now, room_for), sent)
    return AtConcurrencyCap(busy_delay(policy, rng))


def send_weight(recipients: int, *, counts_recipients: bool, daily_cap: int) -> int:
    """What one message counts against its account's daily cap: 1, or its recipients where
    the provider counts those (Exchange Online: a message to 5 people counts 5), never more
    than the cap itself (a message to more people than the cap goes alone in a window)."""
    weight = max(1, recipients) if counts_recipients else 1
    return min(weight, daily_cap)


def daily_cap_message(
    account: str | None,
    cap: int,
    frees_at: datetime,
    *,
    label: str = "Gmail",
    counts_recipients: bool = False,
) -> str:
    """The row's message while an email waits for the daily cap, in an admin's words."""
    who = f"{label} account {account}" if account else f"The company's {label} account"
    what = "recipients" if counts_recipients else "emails"
    return (
        f"{who} has sent its daily cap of {cap} {what} in the last 24 hours; this email waits "
        f"until {frees_at:%Y-%m-%d %H:%M} UTC. To send such emails from the default address "
        f"instead, turn on sending from the default address while {label} is not usable."
    )
