"""How long mailroute keeps what it no longer needs: the settings' checks.

`RETENTION_DAYS` (default 30): how long an email keeps its bodies and attachments after its
outcome (`sent` or `failed`), and how long rejected messages, dead-letter reasons, ended webhook
deliveries and settled revocations are kept. `OUTBOX_RETENTION_DAYS` (default 1): how long a
published outbox row is kept. Both may be fractional (0.0001 days is about 8.6 s), for tests and
soak runs.
"""

from __future__ import annotations

import math

# A hundred years: "for ever", for all practical purposes.
MAX_RETENTION_DAYS = 36_500.0


def retention_problems(retention_days: float, outbox_retention_days: float) -> list[str]:
    """Each bad retention variable, named."""
    found: list[str] = []
    for var, days in (
        ("RETENTION_DAYS", retention_days),
        ("OUTBOX_RETENTION_DAYS", outbox_retention_days),
    ):
        if not (math.isfinite(days) and 0 < days <= MAX_RETENTION_DAYS):
            found.append(f"{var}: must be over 0 and at most {MAX_RETENTION_DAYS:g} days")
    return found
