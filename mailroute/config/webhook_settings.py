"""The outcome webhooks' settings: their default retry schedule and their checks."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

# Svix's retry schedule for webhooks (seconds after each failed attempt: 5 s, 5 min, 30 min,
# 2 h, 5 h, 10 h, 10 h), about 28 hours in all.
WEBHOOK_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


def webhook_problems(
    schedule: Sequence[float],
    disable_after_days: float,
    timeouts: tuple[float, float],
    allowed_networks: Sequence[str],
) -> list[str]:
    """Each bad WEBHOOK_* variable, named."""
    found: list[str] = []
    if not all(0 < delay <= 7 * 86400 for delay in schedule):
        found.append("WEBHOOK_RETRY_SCHEDULE: each wait must be over 0 and at most 604800 s")
    if disable_after_days <= 0:
        found.append("WEBHOOK_DISABLE_AFTER_DAYS: must be positive")
    connect, total = timeouts
    if not 0 < connect <= total <= 60:
        found.append(
            "WEBHOOK_CONNECT_TIMEOUT_SECONDS, WEBHOOK_TIMEOUT_SECONDS: 0 < connect <= total <= 60"
        )
    for cidr in allowed_networks:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            found.append(f"WEBHOOK_ALLOWED_PRIVATE_NETWORKS: {cidr!r} is not a CIDR network")
    return found
