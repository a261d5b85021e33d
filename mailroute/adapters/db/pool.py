"""The psycopg connection pool, opened lazily so that forked worker processes each get their own."""

from __future__ import annotations

from typing import TypeAlias

from psycopg import Connection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from mailroute.config.settings import Settings

Pool: TypeAlias = ConnectionPool[Connection[DictRow]]


def make_pool(settings: Settings, *, min_size: int = 1, max_size: int | None = None) -> Pool:
    """A pool of autocommit connections returning dict rows; call `.open()` before use."""
    return ConnectionPool[Connection[DictRow]](
        settings.database_url,
        connection_class=Connection[DictRow],
        min_size=min_size,
        max_size=max_size or settings.db_pool_size,
        # Autocommit: a single statement is one round trip; multi-statement work says
        # `with conn.transaction()`. No per-checkout check either (another round trip): a
        # connection that died is discarded when it fails, and the work is retried.
        kwargs={"row_factory": dict_row, "connect_timeout": 5, "autocommit": True},
        open=False,
        name="mailroute",
        timeout=30,
        reconnect_timeout=120,
    )


def database_reachable(pool: Pool) -> str:
    """'ok', or why not: for /readyz."""
    try:
        with pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return f"unavailable: {type(exc).__name__}"
    return "ok"
