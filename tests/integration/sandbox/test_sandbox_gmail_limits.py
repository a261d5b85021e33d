"""Per-user quota, daily limit, concurrency cap, latency and injected faults, seen through
google-api-python-client exactly as the app will see them from Google."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from googleapiclient.errors import HttpError
from sandbox_targets import (
    OWNER,
    Target,
    connect,
    error_message,
    error_reason,
    gmail_service,
    message_bytes,
    raw_field,
)

from mailroute_sandbox.client import SandboxClient

RETRY_AFTER = re.compile(
    r"User-rate limit exceeded\.  Retry after "
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) \(Mail sending\)"
)


def _send(service: Any) -> dict[str, Any]:
    body = {"raw": raw_field(message_bytes())}
    sent: dict[str, Any] = service.users().messages().send(userId="me", body=body).execute()
    return sent


def _retry_at(error: HttpError) -> datetime:
    match = RETRY_AFTER.fullmatch(error_message(error))
    assert match is not None, error_message(error)
    return datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@pytest.fixture
def service(sandbox: SandboxClient, target_sandbox: Target) -> Any:
    return gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root)


def test_the_151st_send_inside_a_minute_is_refused_at_the_default_quota(
    sandbox: SandboxClient, service: Any
) -> None:
    account = sandbox.account(OWNER)
    assert (account["quota_units_per_minute"], account["send_cost_units"]) == (15_000, 100)

    for _ in range(150):
        _send(service)
    with pytest.raises(HttpError) as refused:
        _send(service)

    assert refused.value.status_code == 429
    assert error_reason(refused.value) == "rateLimitExceeded"
    now = datetime.now(UTC)
    assert now < _retry_at(refused.value) <= now + timedelta(seconds=60)
    assert len(sandbox.gmail_sent(OWNER, content=False)) == 150
    assert sandbox.counters()["rate_limited"] == {OWNER: 1}


def test_a_smaller_quota_paces_sends_and_frees_up_after_the_window(
    sandbox: SandboxClient, service: Any
) -> None:
    sandbox.set_limits(OWNER, quota_units_per_minute=300)

    sent = [_send(service) for _ in range(3)]
    with pytest.raises(HttpError) as refused:
        _send(service)

    assert len(sent) == 3
    assert refused.value.resp.status == 429
    assert _retry_at(refused.value) > datetime.now(UTC) + timedelta(seconds=55)


def test_the_daily_limit_refuses_with_a_retry_time_a_day_later(
    sandbox: SandboxClient, service: Any
) -> None:
    sandbox.set_limits(OWNER, daily_send_limit=2)

    _send(service)
    _send(service)
    with pytest.raises(HttpError) as refused:
        _send(service)

    assert error_reason(refused.value) == "rateLimitExceeded"
    assert _retry_at(refused.value) > datetime.now(UTC) + timedelta(hours=23)


def test_too_many_concurrent_sends_get_429_too_many_concurrent_requests(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox)
    sandbox.set_limits(OWNER, max_concurrent_sends=2)
    sandbox.settings(gmail_latency_ms=1500)
    services = [gmail_service(creds, target_sandbox.gmail_root) for _ in range(4)]
    outcomes: list[str] = []
    start = threading.Barrier(len(services))

    def send(service: Any) -> None:
        start.wait()
        try:
            _send(service)
            outcomes.append("sent")
        except HttpError as error:
            outcomes.append(error_message(error))

    threads = [threading.Thread(target=send, args=(s,)) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert sorted(outcomes) == ["Too many concurrent requests for user"] * 2 + ["sent"] * 2
    assert sandbox.counters()["rate_limited"] == {OWNER: 2}


def test_added_latency_slows_each_send(sandbox: SandboxClient, service: Any) -> None:
    sandbox.settings(gmail_latency_ms=300)

    began = time.monotonic()
    _send(service)

    assert time.monotonic() - began >= 0.3


@pytest.mark.parametrize(
    ("kind", "reason"), [(429, "rateLimitExceeded"), (500, "backendError"), (503, "backendError")]
)
def test_injected_errors_fail_the_next_calls_then_sends_succeed(
    sandbox: SandboxClient, service: Any, kind: int, reason: str
) -> None:
    sandbox.add_fault(kind, count=2, account=OWNER)

    for _ in range(2):
        with pytest.raises(HttpError) as refused:
            _send(service)
        assert refused.value.status_code == kind
        assert error_reason(refused.value) == reason
    _send(service)

    counters = sandbox.counters()
    assert counters["errors_injected"] == 2
    assert counters["sends"] == {OWNER: 1}
    assert counters["rate_limited"] == ({OWNER: 2} if kind == 429 else {})


def test_an_injected_timeout_hangs_past_the_client_timeout(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    service = gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root, timeout=1)
    sandbox.add_fault("timeout", hang_seconds=3)

    with pytest.raises(TimeoutError):
        _send(service)

    assert sandbox.gmail_sent() == []


def test_a_fault_with_deliver_sends_the_mail_and_still_answers_with_the_error(
    sandbox: SandboxClient, service: Any
) -> None:
    sandbox.add_fault(500, deliver=True)

    with pytest.raises(HttpError) as refused:
        _send(service)

    assert refused.value.status_code == 500
    assert len(sandbox.gmail_sent(OWNER)) == 1  # the duplicate window the app must survive


def test_a_fault_scoped_to_another_account_leaves_this_one_alone(
    sandbox: SandboxClient, service: Any
) -> None:
    sandbox.add_fault(503, account="billing@acme-sandbox.test")

    _send(service)

    assert len(sandbox.add_fault(500, target="token")["faults"]) == 2
