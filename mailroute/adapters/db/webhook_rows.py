"""The columns the webhook adapters read, and the value types made of their rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mailroute.core.webhook_ports import Attempt, Delivery, Endpoint

ENDPOINT_COLUMNS = (
    "e.id, e.company_id, e.url, e.description, e.event_types, e.enabled, e.created_at,"
    " e.disabled_at, e.disabled_reason, e.failing_since,"
    " CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret_expires_at END"
    " AS previous_secret_expires_at"
)
DELIVERY_COLUMNS = (
    "d.id, d.endpoint_id, d.event_type, d.status, d.attempts, d.created_at, d.payload,"
    " d.next_attempt_at, d.delivered_at"
)
ATTEMPT_COLUMNS = "delivery_id, attempted_at, duration_ms, status_code, response_body, error"


def endpoint(row: Mapping[str, Any]) -> Endpoint:
    return Endpoint(
        id=str(row["id"]),
        company_id=str(row["company_id"]),
        url=row["url"],
        description=row["description"],
        event_types=tuple(row["event_types"]),
        enabled=row["enabled"],
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
        disabled_reason=row["disabled_reason"],
        failing_since=row["failing_since"],
        previous_secret_expires_at=row["previous_secret_expires_at"],
    )


def deliveries(
    rows: Iterable[Mapping[str, Any]], attempts: Iterable[Mapping[str, Any]]
) -> list[Delivery]:
    """Deliveries with their attempts, oldest attempt first."""
    by_delivery: dict[str, list[Attempt]] = {}
    for a in attempts:
        by_delivery.setdefault(str(a["delivery_id"]), []).append(
            Attempt(
                attempted_at=a["attempted_at"],
                duration_ms=a["duration_ms"],
                status_code=a["status_code"],
                response_body=a["response_body"],
                error=a["error"],
            )
        )
    return [
        Delivery(
            id=str(r["id"]),
            endpoint_id=str(r["endpoint_id"]),
            event_type=r["event_type"],
            status=r["status"],
            attempt_count=r["attempts"],
            created_at=r["created_at"],
            data=r["payload"],
            next_attempt_at=r["next_attempt_at"] if r["status"] == "pending" else None,
            delivered_at=r["delivered_at"],
            attempts=tuple(by_delivery.get(str(r["id"]), ())),
        )
        for r in rows
    ]
