"""Who is told about a company's mailbox connection: its admins and the user who connected
it (whatever their role), each address once."""

from __future__ import annotations

from psycopg import Connection
from psycopg.rows import DictRow

_RECIPIENTS = (
    "SELECT DISTINCT email FROM users"
    " WHERE company_id = %s AND (role = 'admin' OR id = %s) ORDER BY email"
)


def notice_recipients(
    conn: Connection[DictRow], company_id: str, connected_by: str | None
) -> tuple[str, ...]:
    rows = conn.execute(_RECIPIENTS, (company_id, connected_by)).fetchall()
    return tuple(row["email"] for row in rows)
