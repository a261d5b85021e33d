"""Exchange Online's per-mailbox limits as the sandbox applies them, and injected throttling.

`MailboxLimiter` keeps, per account, the Graph requests in flight (4 at once; the 5th gets
"MailboxConcurrency"), a sliding 60-second window of messages (30) and a rolling 24-hour count
of recipients (10,000; a message to 5 counts 5). `ThrottleQueue` holds "the next N Graph calls
of this account answer 429/503" rules.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field

from mailroute_sandbox import clock
from mailroute_sandbox.microsoft.accounts import MailboxLimits

MINUTE = 60.0
DAY = 24 * 60 * 60.0
CONCURRENCY_MESSAGE = "Application is over its MailboxConcurrency limit."
MESSAGE_RATE_MESSAGE = (
    "Mailbox is over its message rate limit of {limit} messages per minute. "
    "Submission quota exceeded; retry after {seconds} seconds."
)
RECIPIENT_RATE_MESSAGE = (
    "Your message can't be sent because you've reached your daily limit for message "
    "recipients ({limit} recipients in 24 hours). SubmissionQuotaExceededException"
)


@dataclass(frozen=True)
class Refusal:
    message: str
    retry_after: int


@dataclass
class _Usage:
    in_flight: int = 0
    max_seen: int = 0
    messages: deque[float] = field(default_factory=deque)
    recipients: deque[tuple[float, int]] = field(default_factory=deque)


class MailboxLimiter:
    """Thread-safe per-account concurrency and send-rate bookkeeping."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage: dict[str, _Usage] = {}

    def enter(self, account: str, limits: MailboxLimits) -> Refusal | None:
        """Start one Graph request; None when allowed (then call `leave`)."""
        with self._lock:
            usage = self._usage.setdefault(account, _Usage())
            if usage.in_flight >= limits.max_concurrent:
                return Refusal(CONCURRENCY_MESSAGE, 1)
            usage.in_flight += 1
            usage.max_seen = max(usage.max_seen, usage.in_flight)
            return None

    def leave(self, account: str) -> None:
        with self._lock:
            usage = self._usage.get(account)
            if usage is not None:
                usage.in_flight = max(0, usage.in_flight - 1)

    def submit(self, account: str, limits: MailboxLimits, recipients: int) -> Refusal | None:
        """Count one message to `recipients` people, or say which rate it would exceed."""
        now = clock.now()
        with self._lock:
            usage = self._usage.setdefault(account, _Usage())
            while usage.messages and usage.messages[0] <= now - MINUTE:
                usage.messages.popleft()
            while usage.recipients and usage.recipients[0][0] <= now - DAY:
                usage.recipients.popleft()
            if len(usage.messages) >= limits.messages_per_minute:
                oldest = (
                    usage.messages[-limits.messages_per_minute]
                    if limits.messages_per_minute
                    else now
                )
                wait = max(1, math.ceil(oldest + MINUTE - now))
                text = MESSAGE_RATE_MESSAGE.format(limit=limits.messages_per_minute, seconds=wait)
                return Refusal(text, wait)
            counted = sum(n for _t, n in usage.recipients)
            if counted + recipients > limits.recipients_per_day:
                wait = _day_wait(usage, counted + recipients - limits.recipients_per_day, now)
                return Refusal(RECIPIENT_RATE_MESSAGE.format(limit=limits.recipients_per_day), wait)
            usage.messages.append(now)
            usage.recipients.append((now, recipients))
            return None

    def usage(self, account: str) -> dict[str, int]:
        now = clock.now()
        with self._lock:
            usage = self._usage.get(account, _Usage())
            return {
                "in_flight": usage.in_flight,
                "max_concurrent_seen": usage.max_seen,
                "messages_last_minute": sum(1 for t in usage.messages if t > now - MINUTE),
                "recipients_last_day": sum(n for t, n in usage.recipients if t > now - DAY),
            }

    def max_seen(self) -> dict[str, int]:
        with self._lock:
            return {account: u.max_seen for account, u in self._usage.items() if u.max_seen}

    def reset(self) -> None:
        with self._lock:
            self._usage.clear()


def _day_wait(usage: _Usage, excess: int, now: float) -> int:
    freed = 0
    for stamp, count in usage.recipients:
        freed += count
        if freed >= excess:
            return max(1, math.ceil(stamp + DAY - now))
    return int(DAY)


@dataclass
class Throttle:
    account: str
    remaining: int
    status: int
    retry_after: int
    message: str | None = None


class ThrottleQueue:
    """Thread-safe: the next `remaining` Graph calls of an account answer `status`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Throttle] = []

    def add(self, rule: Throttle) -> None:
        with self._lock:
            self._rules.append(rule)

    def take(self, account: str) -> Throttle | None:
        with self._lock:
            for rule in self._rules:
                if rule.account.lower() == account.lower():
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    return rule
        return None

    def pending(self) -> int:
        with self._lock:
            return sum(r.remaining for r in self._rules)

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()
