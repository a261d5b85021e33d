"""Reading emails for the API and the settings page, and sending a failed one again (never one
whose content was purged after its retention: `ContentPurgedError`)."""

from __future__ import annotations

from typing import Any

from mailroute.adapters.db.pool import Pool
from mailroute.core.mime import readable_address
from mailroute.core.model import Route
from mailroute.core.records import EmailView
from mailroute.core.retention import ContentPurgedError


class EmailReadsSql:
    _pool: Pool

    def get(self, email_id: str, company_id: str) -> EmailView | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT * FROM emails WHERE id = %s AND company_id = %s", (email_id, company_id)
            ).fetchone()
        return _view(row) if row else None

    def recent(self, company_id: str, limit: int = 20) -> list[EmailView]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT * FROM emails WHERE company_id = %s ORDER BY created_at DESC LIMIT %s",
                (company_id, limit),
            ).fetchall()
        return [_view(r) for r in rows]

    def retry_target(self, email_id: str, company_id: str) -> tuple[str, str, str | None] | None:
        """(status, sender_choice, correlation_id) of the company's email, or None when unknown.
        Raises `ContentPurgedError` for a failed email whose content was purged."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT status, sender_choice, correlation_id, content_purged_at FROM emails"
                " WHERE id = %s AND company_id = %s",
                (email_id, company_id),
            ).fetchone()
        if row and row["status"] == "failed" and row["content_purged_at"] is not None:
            raise ContentPurgedError(row["content_purged_at"])
        return (row["status"], row["sender_choice"], row["correlation_id"]) if row else None

    def redispatch(
        self, email_id: str, company_id: str, *, route: Route, from_address: str
    ) -> bool:
        """failed -> queued on `route`, a fresh attempt count, the same Message-ID. True for the
        one caller that moved it; `ContentPurgedError` when its content was purged meanwhile."""
        with self._pool.connection() as conn:
            cur = conn.execute(
                "UPDATE emails SET status = 'queued', route = %s, from_address = %s,"
                " attempts = 0, error_code = NULL, error_message = NULL, failed_at = NULL,"
                " claim_key = NULL, next_attempt_at = NULL, parked = false,"
                " broken_generation = NULL, updated_at = now()"
                " WHERE id = %s AND company_id = %s AND status = 'failed'"
                " AND content_purged_at IS NULL",
                (route, from_address, email_id, company_id),
            )
            if cur.rowcount == 1:
                return True
            purged = conn.execute(
                "SELECT content_purged_at FROM emails WHERE id = %s AND status = 'failed'",
                (email_id,),
            ).fetchone()
        if purged and purged["content_purged_at"] is not None:
            raise ContentPurgedError(purged["content_purged_at"])
        return False

    def failed_while_not_connected(
        self, company_id: str, generation: int, *, code: str = "gmail_not_connected"
    ) -> list[str]:
        """Ids of the company's emails that failed `code` (a provider's `…_not_connected`)
        under that connection's `generation`."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM emails WHERE company_id = %s AND status = 'failed'"
                " AND error_code = %s AND broken_generation = %s"
                " AND content_purged_at IS NULL"
                " ORDER BY created_at",
                (company_id, code, generation),
            ).fetchall()
        return [str(r["id"]) for r in rows]


def _view(row: dict[str, Any]) -> EmailView:
    return EmailView(
        id=str(row["id"]),
        company_id=str(row["company_id"]),
        event_id=row["event_id"],
        kind=row["kind"],
        status=row["status"],
        route=row["route"],
        from_address=readable_address(row["from_address"]),
        to=[readable_address(a) or a for a in row["to_addrs"]],
        subject=row["subject"],
        attempts=row["attempts"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        provider_message_id=row["provider_message_id"],
        message_id=row["message_id"],
        possible_duplicate=row["possible_duplicate"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        sent_at=row["sent_at"],
        content_purged_at=row["content_purged_at"],
    )
