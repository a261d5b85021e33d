"""Retry arithmetic: which errors retry, and when the next attempt is due."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailroute.core.errors import TransientError


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_seconds: float = 2.0
    cap_seconds: float = 300.0

    def delay_after(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with full jitter: in [base*2^(n-1)/2, base*2^(n-1)], capped."""
        rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** max(attempt - 1, 0))
        return rng.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    delay_seconds: float = 0.0


def decide_retry(
    error: TransientError, attempts: int, policy: RetryPolicy, now: datetime
) -> RetryDecision:
    """Retry a transient error until the attempts run out; honour the provider's retry time."""
    if attempts >= policy.max_attempts:
        return RetryDecision(retry=False)
    delay = policy.delay_after(attempts)
    if error.retry_at is not None:
        delay = max(delay, (error.retry_at - now) / timedelta(seconds=1))
    return RetryDecision(retry=True, delay_seconds=delay)
