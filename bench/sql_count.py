"""Count the SQL statements (each one a round trip) a database receives during a block, from
PostgreSQL's own log: `log_statement = 'all'` is set for that database only, for the block only.

BEGIN and COMMIT are statements too, so a transaction of two statements counts four."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _log_file() -> Path:
    logs = sorted(Path("/var/log/postgresql").glob("postgresql-*-main.log"))
    if not logs:
        raise RuntimeError("no PostgreSQL log in /var/log/postgresql to count statements from")
    return logs[-1]


@dataclass
class StatementCount:
    count: int = 0
    own: int = 0  # statements the bench itself sent while counting


@contextmanager
def count_statements(database: str) -> Iterator[StatementCount]:
    log = _log_file()
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE \"{database}\" SET log_statement = 'all'")
    start = log.stat().st_size
    result = StatementCount()
    try:
        yield result
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{database}" RESET log_statement')
        with log.open("rb") as handle:
            handle.seek(start)
            text = handle.read().decode(errors="replace")
        pattern = re.compile(rf"@{re.escape(database)} LOG:  (statement|execute [^:]*):")
        result.count = len(pattern.findall(text))
