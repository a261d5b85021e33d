"""What slows or refuses a send: per-user quota windows, the concurrency cap, injected faults.

`SendLimiter` keeps, per account, a sliding 60-second window of quota units, a rolling 24-hour
count of sends and the number of sends in flight. `FaultQueue` holds "fail the next N calls"
rules for the Gmail, token and revoke endpoints (`any` means Gmail and token, never revoke).
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from mailroute_sandbox import clock

MINUTE = 60.0
DAY = 24 * 60 * 60.0
CONCURRENCY_MESSAGE = "Too many concurrent requests for user"

FaultKind = Literal[
    401,
    429,
    500,
    502,
    503,
    504,
    "timeout",
    "403_userRateLimitExceeded",
    "403_rateLimitExceeded",
    "400_invalidArgument",
    "400_failedPrecondition",
]
FaultTarget = Literal["gmail", "token", "revoke", "any"]
# Kinds only the Gmail API answers (the token endpoint speaks OAuth's error shape, not these).
GMAIL_ONLY_KINDS: frozenset[FaultKind] = frozenset(
    {
        401,
        "403_userRateLimitExceeded",
        "403_rateLimitExceeded",
        "400_invalidArgument",
        "400_failedPrecondition",
    }
)


def sending_limit_message(retry_at: float) -> str:
    """Google's sending-limit text: two spaces after the period, RFC 3339 UTC time."""
    return f"User-rate limit exceeded.  Retry after {clock.rfc3339(retry_at)} (Mail sending)"


@dataclass(frozen=True)
class Refusal:
    """Why a send may not start now: the message Google would print, and the retry time."""

    message: str
    retry_at: float | None = None


@dataclass(frozen=True)
class AccountLimits:
    units_per_minute: int
    send_cost: int
    daily_sends: int
    max_concurrent: int


@dataclass
class _Usage:
    minute: deque[tuple[float, int]] = field(default_factory=deque)
    minute_units: int = 0
    day: deque[float] = field(default_factory=deque)
    in_flight: int = 0


class SendLimiter:
    """Thread-safe per-account quota and concurrency bookkeeping."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage: dict[str, _Usage] = {}

    def acquire(self, account: str, limits: AccountLimits) -> tuple[Refusal | None, float]:
        """Start a send: (None, stamp) when allowed (call `release` later), else the refusal."""
        now = clock.now()
        with self._lock:
            usage = self._usage.setdefault(account, _Usage())
            if usage.in_flight >= limits.max_concurrent:
                return Refusal(CONCURRENCY_MESSAGE), now
            while usage.minute and usage.minute[0][0] <= now - MINUTE:
                usage.minute_units -= usage.minute.popleft()[1]
            if usage.minute_units + limits.send_cost > limits.units_per_minute:
                retry_at = self._minute_retry_at(usage, limits, now)
                return Refusal(sending_limit_message(retry_at), retry_at), now
            while usage.day and usage.day[0] <= now - DAY:
                usage.day.popleft()
            if len(usage.day) >= limits.daily_sends:
                retry_at = (usage.day[0] if usage.day else now) + DAY
                return Refusal(sending_limit_message(retry_at), retry_at), now
            usage.minute.append((now, limits.send_cost))
            usage.minute_units += limits.send_cost
            usage.day.append(now)
            usage.in_flight += 1
            return None, now

    def release(self, account: str, stamp: float, *, sent: bool) -> None:
        """End a send started by `acquire`; a send that did not go out gives back its daily slot."""
        with self._lock:
            usage = self._usage.get(account)
            if usage is None:
                return
            usage.in_flight = max(0, usage.in_flight - 1)
            if not sent:
                with contextlib.suppress(ValueError):
                    usage.day.remove(stamp)

    def usage(self, account: str) -> dict[str, int]:
        now = clock.now()
        with self._lock:
            usage = self._usage.get(account, _Usage())
            return {
                "units_last_minute": sum(u for t, u in usage.minute if t > now - MINUTE),
                "sends_last_day": sum(1 for t in usage.day if t > now - DAY),
                "in_flight": usage.in_flight,
            }

    def reset(self) -> None:
        with self._lock:
            self._usage.clear()

    @staticmethod
    def _minute_retry_at(usage: _Usage, limits: AccountLimits, now: float) -> float:
        needed = usage.minute_units + limits.send_cost - limits.units_per_minute
        freed = 0
        for stamp, units in usage.minute:
            freed += units
            if freed >= needed:
                return stamp + MINUTE
        return now + MINUTE


@dataclass
class ApiFault:
    """Fail the next `remaining` matching calls with `kind` (an HTTP status, a Google reason, or
    hang); a `persistent` fault fails every matching call until the faults are cleared."""

    kind: FaultKind
    remaining: int
    target: FaultTarget = "gmail"
    account: str | None = None
    retry_after_seconds: float = 1.0
    hang_seconds: float = 30.0
    deliver: bool = False
    persistent: bool = False
    message: str | None = None  # replaces Google's default text for the kind

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "remaining": self.remaining,
            "target": self.target,
            "account": self.account,
            "retry_after_seconds": self.retry_after_seconds,
            "hang_seconds": self.hang_seconds,
            "deliver": self.deliver,
            "persistent": self.persistent,
            "message": self.message,
        }

    def matches(self, target: Literal["gmail", "token", "revoke"], account: str | None) -> bool:
        if self.target != target and (self.target != "any" or target == "revoke"):
            return False
        if target != "gmail" and self.kind in GMAIL_ONLY_KINDS:
            return False
        if self.account is None:
            return True
        return account is not None and self.account.lower() == account.lower()


class FaultQueue:
    """Thread-safe FIFO of injected faults; each matching call consumes one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[ApiFault] = []

    def add(self, fault: ApiFault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(
        self, target: Literal["gmail", "token", "revoke"], account: str | None
    ) -> ApiFault | None:
        with self._lock:
            for fault in self._faults:
                if not fault.matches(target, account):
                    continue
                if fault.persistent:
                    return fault
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def pending(self) -> list[dict[str, object]]:
        with self._lock:
            return [fault.as_json() for fault in self._faults]

    def clear(self, account: str | None = None) -> int:
        """Drop every fault, or only those scoped to `account`; returns how many went."""
        with self._lock:
            before = len(self._faults)
            if account is None:
                self._faults.clear()
            else:
                self._faults = [
                    f for f in self._faults if (f.account or "").lower() != account.lower()
                ]
            return before - len(self._faults)

    def reset(self) -> None:
        self.clear()
