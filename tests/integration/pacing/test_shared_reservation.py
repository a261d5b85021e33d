"""The pacing state in PostgreSQL, shared by every thread and process: slots never collide and stay
evenly spaced, a held slot is used once, and the concurrency and daily caps hold exactly."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime, timedelta

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pacing import PostgresPacing
from mailroute.adapters.db.pool import Pool, make_pool
from mailroute.config.settings import Settings
from mailroute.core.pacing import DailyCapReached, PacingPolicy, why_refused
from tests.stack import wait_for

POLICY = PacingPolicy(sends_per_minute=140, max_concurrent=4)


def _reserve_many(database_url: str, connection_id: str, count: int) -> list[datetime]:
    """In a process of its own: `count` reservations for fresh emails, each one statement."""
    pool = make_pool(Settings(database_url=database_url), max_size=1)
    pool.open(wait=True, timeout=10)
    try:
        pacing = PostgresPacing(pool)
        return [pacing.reserve(connection_id, str(uuid.uuid4()), POLICY).slot for _ in range(count)]
    finally:
        pool.close()


def test_threads_and_processes_reserving_at_once_get_distinct_evenly_spaced_slots(
    settings: Settings, database: Pool, make_connection: Callable[[], str]
) -> None:
    connection_id = make_connection()
    threads, per_thread, processes, per_process = 16, 20, 3, 40
    pool = make_pool(settings, max_size=threads)
    pool.open(wait=True, timeout=10)
    start = threading.Barrier(threads)

    def reserve_in_thread(_: int) -> list[datetime]:
        pacing = PostgresPacing(pool)
        start.wait()
        return [
            pacing.reserve(connection_id, str(uuid.uuid4()), POLICY).slot for _ in range(per_thread)
        ]

    spawn = multiprocessing.get_context("spawn")
    try:
        with (
            ProcessPoolExecutor(processes, mp_context=spawn) as other_processes,
            ThreadPoolExecutor(threads) as here,
        ):
            elsewhere = [
                other_processes.submit(
                    _reserve_many, settings.database_url, connection_id, per_process
                )
                for _ in range(processes)
            ]
            slots = [s for batch in here.map(reserve_in_thread, range(threads)) for s in batch]
            slots += [s for future in elsewhere for s in future.result(timeout=60)]
    finally:
        pool.close()

    total = threads * per_thread + processes * per_process
    assert len(slots) == total
    assert len(set(slots)) == total, "two reservations got the same slot"
    ordered = sorted(slots)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ordered)]
    interval = 60 / 140
    assert min(gaps) >= interval - 1e-5
    assert max(gaps) <= interval + 1e-5
    # So any 60 seconds hold at most 141 of them, whoever reserved them.


def test_a_held_slot_is_used_once_and_a_stale_one_is_replaced(
    database: Pool,
    pacing: PostgresPacing,
    make_connection: Callable[[], str],
    make_email: Callable[[str], str],
) -> None:
    connection_id = make_connection()
    email_id = make_email(connection_id)
    first = pacing.reserve(connection_id, email_id, POLICY)
    assert not first.held
    ahead = first.slot + timedelta(seconds=30)
    with database.connection() as conn:  # the email was put back to wait for a slot ahead
        conn.execute("UPDATE emails SET gmail_slot = %s WHERE id = %s", (ahead, email_id))

    again = pacing.reserve(connection_id, email_id, POLICY)
    assert again.held
    assert again.slot == ahead
    other = pacing.reserve(connection_id, str(uuid.uuid4()), POLICY)
    assert other.slot == first.slot + POLICY.interval  # the held slot took no new one

    assert pacing.start_send(connection_id, email_id, POLICY).started
    pacing.end_send(connection_id, email_id)
    assert not pacing.reserve(connection_id, email_id, POLICY).held  # used up by the send

    with database.connection() as conn:  # came back long after its slot: stale
        conn.execute(
            "UPDATE emails SET gmail_slot = now() - interval '5 seconds' WHERE id = %s",
            (email_id,),
        )
    assert not pacing.reserve(connection_id, email_id, POLICY).held


def test_the_concurrency_cap_holds_under_a_crowd_and_frees_as_sends_end_or_leases_expire(
    pacing: PostgresPacing, make_connection: Callable[[], str]
) -> None:
    connection_id = make_connection()
    pacing.reserve(connection_id, str(uuid.uuid4()), POLICY)  # the account's row
    crowd = 24
    start = threading.Barrier(crowd)
    emails = [str(uuid.uuid4()) for _ in range(crowd)]
    # Leases long enough that a busy machine cannot let them expire before the checks below.
    short = PacingPolicy(max_concurrent=4, lease_seconds=4.0)

    def try_start(email_id: str) -> bool:
        start.wait()
        return pacing.start_send(connection_id, email_id, short).started

    with ThreadPoolExecutor(crowd) as pool:
        started = [e for e, ok in zip(emails, pool.map(try_start, emails), strict=True) if ok]
    assert len(started) == 4

    late = next(e for e in emails if e not in started)  # one that holds no lease
    refused = pacing.start_send(connection_id, late, short)
    assert not refused.started
    assert refused.in_flight == 4
    pacing.end_send(connection_id, started[0])
    assert pacing.start_send(connection_id, late, short).started

    # A worker that died mid-send never gives its lease back: it expires.
    newcomer = str(uuid.uuid4())
    wait_for(
        lambda: pacing.start_send(connection_id, newcomer, short).started,
        timeout=15,
        interval=0.2,
        what="the dead sends' leases to expire",
    )


def test_the_daily_cap_is_exact_under_concurrency_and_says_when_it_frees(
    pacing: PostgresPacing,
    connections: PostgresConnections,
    make_connection: Callable[[], str],
) -> None:
    connection_id = make_connection()
    connections.set_pacing_limits(connection_id, daily_cap=10)
    policy = pacing.reserve(connection_id, str(uuid.uuid4()), POLICY).policy
    assert policy.daily_cap == 10
    crowd = 40
    start = threading.Barrier(crowd)

    def send_once(_: int) -> bool:
        email_id = str(uuid.uuid4())
        start.wait()
        ok = pacing.start_send(connection_id, email_id, policy).started
        if ok:
            pacing.end_send(connection_id, email_id)
        return ok

    with ThreadPoolExecutor(crowd) as pool:
        results = list(pool.map(send_once, range(crowd)))
    assert results.count(True) <= 10
    # Refused for the concurrency cap meanwhile? Try the rest again until only the cap refuses.
    while results.count(True) < 10:
        results.append(send_once_alone(pacing, connection_id, policy))
    assert results.count(True) == 10

    refused = pacing.start_send(connection_id, str(uuid.uuid4()), policy)
    assert not refused.started
    refusal = why_refused(refused, policy)
    assert isinstance(refusal, DailyCapReached)
    assert refusal.sent_in_window == 10
    assert timedelta(hours=24) < refusal.frees_at - refused.now <= timedelta(hours=25)


def send_once_alone(pacing: PostgresPacing, connection_id: str, policy: PacingPolicy) -> bool:
    email_id = str(uuid.uuid4())
    ok = pacing.start_send(connection_id, email_id, policy).started
    if ok:
        pacing.end_send(connection_id, email_id)
    return ok


def test_accounts_are_paced_independently_and_a_connection_may_set_its_own_rate(
    pacing: PostgresPacing,
    connections: PostgresConnections,
    make_connection: Callable[[], str],
) -> None:
    busy, quiet, slow = make_connection(), make_connection(), make_connection()
    for _ in range(200):
        last = pacing.reserve(busy, str(uuid.uuid4()), POLICY)
    assert (last.slot - last.now).total_seconds() > 80  # a backlog of 200 slots

    first = pacing.reserve(quiet, str(uuid.uuid4()), POLICY)
    assert abs((first.slot - first.now).total_seconds()) < 1  # not behind the busy account

    connections.set_pacing_limits(slow, sends_per_minute=30, max_concurrent_sends=2)
    a = pacing.reserve(slow, str(uuid.uuid4()), POLICY)
    b = pacing.reserve(slow, str(uuid.uuid4()), POLICY)
    assert b.slot - a.slot == timedelta(seconds=2)
    assert (b.policy.sends_per_minute, b.policy.max_concurrent) == (30, 2)
