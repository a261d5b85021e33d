"""How a `mailbox_connections` row reads as a `ConnectionRecord` (no tokens: those are read only
through `PostgresConnections.tokens`)."""

from __future__ import annotations

from typing import Any

from mailroute.core.records import ConnectionRecord

COLUMNS = (
    "id, company_id, state, address, google_subject, generation, scopes, connected_by,"
    " connected_at, last_verified_at, broken_reason, broken_at, access_token_expires_at,"
    " daily_cap, refresh_token_enc IS NOT NULL AS has_refresh_token, provider,"
    " refresh_expires_at"
)


def record(row: dict[str, Any]) -> ConnectionRecord:
    return ConnectionRecord(
        id=str(row["id"]),
        company_id=str(row["company_id"]),
        state=row["state"],
        address=row["address"],
        google_subject=row["google_subject"],
        generation=row["generation"],
        scopes=tuple(row["scopes"] or ()),
        connected_by=str(row["connected_by"]) if row["connected_by"] else None,
        connected_at=row["connected_at"],
        last_verified_at=row["last_verified_at"],
        broken_reason=row["broken_reason"],
        broken_at=row["broken_at"],
        access_token_expires_at=row["access_token_expires_at"],
        daily_cap=row["daily_cap"],
        has_refresh_token=row["has_refresh_token"],
        provider=row["provider"],
        refresh_expires_at=row.get("refresh_expires_at"),
    )
