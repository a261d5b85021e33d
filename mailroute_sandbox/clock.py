"""Time for the sandbox: wall-clock seconds and Google's RFC 3339 UTC text form."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> float:
    """Seconds since the epoch (wall clock), the unit every sandbox timestamp uses."""
    return time.time()


def rfc3339(timestamp: float) -> str:
    """`2024-11-12T11:16:42.247Z`, the form Google prints in "Retry after <time>"."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
