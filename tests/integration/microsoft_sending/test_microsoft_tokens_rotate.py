"""Microsoft's refresh tokens replace themselves on every use: across two worker processes
refreshing short-lived access tokens, the connection never breaks and the stored cache always
holds the newest refresh token (the sandbox refuses a replaced one, as Microsoft may)."""

from __future__ import annotations

from collections.abc import Callable

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute_sandbox.client import SandboxClient as FullSandbox
from tests.integration.microsoft_sending.conftest import (
    MicrosoftCompany,
    all_ended,
    rows,
    stored_refresh_token,
)
from tests.stack import Process, wait_for


def test_50_sends_over_4_second_tokens_across_2_processes_keep_the_newest_refresh_token(
    make_microsoft_company: Callable[[], MicrosoftCompany],
    microsoft: FullSandbox,
    database: Pool,
    ms_connections: PostgresConnections,
    publish: Callable[..., str],
    worker: Process,
) -> None:
    microsoft.ms_settings(access_token_lifetime_seconds=4, invalidate_rotated_refresh_tokens=True)
    connected = make_microsoft_company()
    company = connected.company
    # Two a second: the 50 sends span many token lifetimes, each process refreshing in turn.
    ms_connections.set_pacing_limits(
        connected.connection_id, sends_per_minute=120, max_concurrent_sends=4
    )
    ids = [publish(connected) for _ in range(50)]

    wait_for(all_ended(database, company.id, 50), timeout=120, interval=0.5, what="50 emails")
    found = rows(database, company.id)
    assert {str(r["id"]) for r in found} == set(ids)
    assert {(r["status"], r["route"]) for r in found} == {("sent", "microsoft")}
    record = ms_connections.get(connected.connection_id)
    assert record is not None
    assert record.state == "active"
    assert len(microsoft.ms_sent(connected.account, content=False)) == 50

    tokens = microsoft.ms_account(connected.account)["refresh_tokens"]
    live = [t["token"] for t in tokens if not t["replaced"] and not t["dead"]]
    assert len(tokens) > 5, "the access tokens were refreshed (and the refresh token rotated)"
    assert [stored_refresh_token(ms_connections, connected.connection_id)] == live
