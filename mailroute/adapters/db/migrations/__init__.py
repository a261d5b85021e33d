"""Versioned SQL migrations, applied in file-name order by `apply_migrations`."""

from __future__ import annotations

from importlib import resources

import psycopg
import structlog
from psycopg import sql
from psycopg.rows import TupleRow

from mailroute.adapters.db.pool import connection_options

log = structlog.get_logger(__name__)

# Any constant works; it only has to be the same for every mailroute process.
_MIGRATION_LOCK = 0x6D61696C  # "mail"


def _migration_files() -> list[tuple[str, str]]:
    folder = resources.files(__package__)
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), folder.joinpath(name).read_text()) for name in names]


def _connect(url: str) -> psycopg.Connection[TupleRow]:
    """A connection as the pool makes them: each listed host in turn, the one that takes
    writes, each attempt and a vanished server bounded in time."""
    conninfo = psycopg.conninfo.make_conninfo(url, **connection_options(url))
    return psycopg.connect(conninfo, autocommit=True)


def ensure_database(url: str) -> None:
    """Create the database named in `url` when it does not exist yet (safe to race), through
    the `postgres` database of the same hosts."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    name = str(info.get("dbname", ""))
    with _connect(psycopg.conninfo.make_conninfo(url, dbname="postgres")) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            log.info("db.created", database=name)
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            pass


def apply_migrations(url: str) -> list[str]:
    """Apply every migration not applied yet; returns the versions applied now.

    Idempotent, and safe from several processes at once: an advisory lock serialises them and each
    migration commits together with its row in `schema_migrations`.
    """
    applied_now: list[str] = []
    with _connect(url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, text in _migration_files():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(text.encode())
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                log.info("db.migrated", version=version)
                applied_now.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied_now
