"""`/metrics` for the web process: HTTP requests, plus gauges read from PostgreSQL (emails by
route, status and error code; Gmail connections by state; notices sent), so the figures are the
fleet's, whichever worker process did the work.

Cheap under frequent scrapes: the gauges are read at most once every `GAUGES_TTL_SECONDS` (one
scrape at a time reads them; the others answer what it read). Protectable: with METRICS_TOKEN
set, a scrape needs `Authorization: Bearer <METRICS_TOKEN>` (else 401, field `Authorization`,
rule `metrics_token`)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterable

import structlog
from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mailroute.adapters.db.pool import Pool
from mailroute.config.settings import Settings
from mailroute.events import FieldProblem
from mailroute.web.errors import ApiError

log = structlog.get_logger(__name__)

GAUGES_TTL_SECONDS = 5.0


class RecordCollector(Collector):
    """The database's gauges, read once per `ttl` seconds whatever the scrape rate."""

    def __init__(
        self,
        pool: Pool,
        ttl: float = GAUGES_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool, self._ttl, self._clock = pool, ttl, clock
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._gauges: list[Metric] = []

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self._ttl:
                # A failed read is kept for the ttl too: a database that is down is not asked
                # again by every scrape.
                self._gauges, self._read_at = list(self._read()), now
            gauges = self._gauges
        yield from gauges

    def _read(self) -> Iterable[Metric]:
        emails = GaugeMetricFamily(
            "mailroute_emails",
            "Emails by route, status and error code",
            labels=["route", "status", "error_code"],
        )
        connections = GaugeMetricFamily(
            "mailroute_gmail_connections", "Gmail connections by state", labels=["state"]
        )
        notices = GaugeMetricFamily(
            "mailroute_auth_broken_notices",
            "Connection-broken notices by delivery status",
            labels=["status"],
        )
        try:
            with self._pool.connection(timeout=2) as conn:
                for row in conn.execute(
                    "SELECT coalesce(route, 'none') AS route, status,"
                    " coalesce(error_code, '') AS error_code, count(*) AS n"
                    " FROM emails GROUP BY 1, 2, 3"
                ).fetchall():
                    emails.add_metric([row["route"], row["status"], row["error_code"]], row["n"])
                for row in conn.execute(
                    "SELECT state, count(*) AS n FROM mailbox_connections"
                    " WHERE provider = 'gmail' GROUP BY state"
                ).fetchall():
                    connections.add_metric([row["state"]], row["n"])
                for row in conn.execute(
                    "SELECT status, count(*) AS n FROM auth_broken_notices GROUP BY status"
                ).fetchall():
                    notices.add_metric([row["status"]], row["n"])
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database blinked
            log.warning("metrics.database_unavailable")
            return
        yield from (emails, connections, notices)


def _check_token(request: Request, token: str) -> None:
    """With METRICS_TOKEN set, the scrape must carry it as a bearer token."""
    if not token:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and secrets.compare_digest(
        given.strip().encode(), token.encode()
    ):
        return
    raise ApiError(
        401,
        "unauthenticated",
        "send the metrics token as 'Authorization: Bearer <METRICS_TOKEN>'",
        [FieldProblem("Authorization", "metrics_token", "missing or not the metrics token")],
        headers={"WWW-Authenticate": 'Bearer realm="mailroute metrics"'},
    )


def install_metrics(app: FastAPI, settings: Settings, pool_of: Callable[[], Pool]) -> None:
    registry = CollectorRegistry()
    requests = Counter(
        "mailroute_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    latency = Histogram(
        "mailroute_http_request_seconds",
        "HTTP request duration",
        ["method", "route"],
        registry=registry,
    )
    collector: list[RecordCollector] = []

    @app.middleware("http")
    async def _count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        requests.labels(request.method, path, str(response.status_code)).inc()
        latency.labels(request.method, path).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        _check_token(request, settings.metrics_token)
        if not collector:
            collector.append(RecordCollector(pool_of()))
            registry.register(collector[0])
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
