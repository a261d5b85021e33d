"""Prometheus metrics for Gmail pacing: how often emails wait for their account, and how long.

Built on first use in a worker process, after dramatiq's Prometheus middleware has set
`PROMETHEUS_MULTIPROC_DIR` (prometheus_client picks its storage when first imported), so the
figures of every worker process are served by the worker group's one exporter. The metrics are
not registered in the process's default registry: the multiprocess files are what is exported.
"""

from __future__ import annotations

import threading
from typing import Any


class PrometheusPacingMetrics:
    """`mailroute_gmail_paced_total{reason}` and `mailroute_gmail_pacing_delay_seconds{reason}`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._metrics: tuple[Any, Any] | None = None

    def _built(self) -> tuple[Any, Any]:
        with self._lock:
            if self._metrics is None:
                import prometheus_client as prom

                paced = prom.Counter(
                    "mailroute_gmail_paced_total",
                    "Gmail sends put back to wait for their account, by reason",
                    ["reason"],
                    registry=None,
                )
                delay = prom.Histogram(
                    "mailroute_gmail_pacing_delay_seconds",
                    "How long an email was put back to wait for its Gmail account",
                    ["reason"],
                    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 21600, 86400),
                    registry=None,
                )
                self._metrics = (paced, delay)
            return self._metrics

    def paced(self, reason: str, delay_seconds: float) -> None:
        paced, delay = self._built()
        paced.labels(reason=reason).inc()
        delay.labels(reason=reason).observe(max(delay_seconds, 0.0))
