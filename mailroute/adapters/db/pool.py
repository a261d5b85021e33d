"""The psycopg connection pool, opened lazily so that forked worker processes each get their own.

`DATABASE_URL` may list several hosts (libpq's multi-host form, `host1:port1,host2:port2`):
psycopg tries them in order, and with `target_session_attrs=read-write` (set for a list of hosts
that does not say otherwise) keeps the one that takes writes. A failover is ridden out so:

- a connection the old primary closed is found at checkout, without a round trip on a healthy
  one, and dropped together with every idle connection that broke with it; the caller gets a
  connection to the new primary (or waits for one) instead of failing on a dead one;
- a connection that cannot be made is tried again after 1 s, then 2 s…; after
  `RECONNECT_SECONDS` psycopg_pool gives it up, and it is started again from 1 s, so attempts never
  space out to minutes while the standby is promoted (and callers already waiting are served
  by the first one that succeeds);
- `connect_timeout` bounds each host's attempt, TCP keepalives and `tcp_user_timeout` a host
  that vanished under an open connection;
- work that was cut mid-transaction raises, and is done again by the path that called it
  (dramatiq's retries, the clock's jobs, the outbox relays).
"""

from __future__ import annotations

import select
from typing import TypeAlias

import psycopg
import structlog
from psycopg import Connection
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from mailroute.config.settings import Settings

Pool: TypeAlias = ConnectionPool[Connection[DictRow]]

log = structlog.get_logger(__name__)

# libpq parameters mailroute sets unless DATABASE_URL sets them itself. psycopg applies
# connect_timeout to each host in turn; keepalives and tcp_user_timeout (ms) end a connection
# whose server is gone without a word within about half a minute, instead of TCP's minutes.
CONNECTION_DEFAULTS = {
    "connect_timeout": "5",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",
}
# A connection that cannot be made is tried again after 1 s, then 2 s… for this long, then
# again from 1 s: during an outage, one attempt every 2 s or so.
RECONNECT_SECONDS = 5.0
CHECKOUT_TIMEOUT_SECONDS = 30.0


def connection_options(url: str) -> dict[str, str]:
    """The libpq parameters to add to `url`: mailroute's defaults it does not set, and for
    several hosts, a session that takes writes."""
    given = conninfo_to_dict(url)
    options = {name: value for name, value in CONNECTION_DEFAULTS.items() if name not in given}
    several = "," in str(given.get("host", "")) or "," in str(given.get("hostaddr", ""))
    if several and "target_session_attrs" not in given:
        options["target_session_attrs"] = "read-write"
    return options


def make_pool(settings: Settings, *, min_size: int = 1, max_size: int | None = None) -> Pool:
    """A pool of autocommit connections returning dict rows; call `.open()` before use."""
    drop_closed = _DropClosedConnections()
    pool = ConnectionPool[Connection[DictRow]](
        settings.database_url,
        connection_class=Connection[DictRow],
        min_size=min_size,
        max_size=max_size or settings.db_pool_size,
        # Autocommit: a single statement is one round trip; multi-statement work says
        # `with conn.transaction()`.
        kwargs={
            "row_factory": dict_row,
            "autocommit": True,
            **connection_options(settings.database_url),
        },
        open=False,
        name="mailroute",
        timeout=CHECKOUT_TIMEOUT_SECONDS,
        check=drop_closed,
        reconnect_timeout=RECONNECT_SECONDS,
        reconnect_failed=_reconnect_again,
    )
    drop_closed.pool = pool
    return pool


class _DropClosedConnections:
    """The pool's checkout check. A server only speaks on an idle connection to close it (its
    FATAL message at shutdown, or end of file when it died), so a healthy connection costs one
    `poll` and no round trip. One that has something to read is checked for real; if it is
    broken, so are the others to that server, most likely: the idle ones are all checked now,
    rather than each on its own checkout (psycopg_pool waits longer after each failed check)."""

    def __init__(self) -> None:
        self.pool: Pool | None = None

    def __call__(self, conn: Connection[DictRow]) -> None:
        if not _server_spoke(conn):
            return
        try:
            ConnectionPool.check_connection(conn)
        except psycopg.Error:
            log.warning("db.connection_lost", server=_server(conn))
            if self.pool is not None:
                self.pool.check()
            raise


def _server_spoke(conn: Connection[DictRow]) -> bool:
    """Whether the server sent anything on this idle connection (or the socket is gone)."""
    if conn.closed or conn.broken:
        return True
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def _server(conn: Connection[DictRow]) -> str:
    try:
        return f"{conn.info.host}:{conn.info.port}"
    except psycopg.Error:
        return "unknown"


def _reconnect_again(pool: Pool) -> None:
    """psycopg_pool gave a connection up after `RECONNECT_SECONDS` of failed attempts; left so,
    the pool would make it again only for a caller that starts waiting later, not for those
    already waiting. `check` makes the pool grow again at once, from a fresh backoff."""
    log.warning("db.reconnecting", pool=pool.name, failing_for_seconds=RECONNECT_SECONDS)
    if not pool.closed:
        pool.check()


def database_reachable(pool: Pool) -> str:
    """'ok', or why not: for /readyz."""
    try:
        with pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return f"unavailable: {type(exc).__name__}"
    return "ok"
