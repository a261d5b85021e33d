"""Storing many producers' requests at once (a batch on the dispatch queue): `STORE` for each,
pipelined on one connection (psycopg's `executemany`: one round trip for the batch, not one a
request), each request still stored once per (company, event id) and answered on its own."""

from __future__ import annotations

from mailroute.adapters.db.pool import Pool
from mailroute.adapters.db.store_statement import STORE, store_params, stored_result
from mailroute.core.records import StoreRequest, StoreResult


class BatchStoreSql:
    _pool: Pool

    def store_many(self, requests: list[StoreRequest]) -> list[tuple[StoreResult, int | None]]:
        """`store` for each request, in order: the result and the outbox id of what was
        written with it."""
        if not requests:
            return []
        params = [store_params(request) for request in requests]
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.executemany(STORE, params, returning=True)
            rows = []
            while True:
                row = cur.fetchone()
                assert row is not None
                rows.append(row)
                if not cur.nextset():
                    break
            return [
                stored_result(conn, request, p, row)
                for request, p, row in zip(requests, params, rows, strict=True)
            ]
