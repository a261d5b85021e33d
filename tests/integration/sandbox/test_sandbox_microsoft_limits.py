"""Exchange Online's per-mailbox limits and Graph throttling in the sandbox: 429 with
Retry-After, at most 4 requests at once, 30 messages a minute, 10,000 recipients a day, 35 MB."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from microsoft_flows import OWNER, Microsoft, graph_error, mime_message


def test_injected_throttles_answer_429_or_503_with_retry_after_then_clear(
    microsoft: Microsoft,
) -> None:
    token = microsoft.token()
    microsoft.controls.ms_throttle(OWNER, count=1, status=429, retry_after=7)
    microsoft.controls.ms_throttle(OWNER, count=1, status=503, retry_after=3)

    first = microsoft.send_mime(token, mime_message())
    second = microsoft.send_mime(token, mime_message())
    third = microsoft.send_mime(token, mime_message())

    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert graph_error(first)[0] == "ApplicationThrottled"
    assert (second.status_code, second.headers["Retry-After"]) == (503, "3")
    assert third.status_code == 202
    assert microsoft.controls.ms_counters()["throttled"] == {OWNER: 2}


def test_a_fifth_concurrent_request_is_over_the_mailbox_concurrency_limit(
    microsoft: Microsoft,
) -> None:
    token = microsoft.token()
    microsoft.controls.ms_settings(graph_latency_ms=1500)
    start = threading.Barrier(5)

    def send(_: int) -> requests.Response:
        start.wait(timeout=10)
        return microsoft.send_mime(token, mime_message())

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(send, range(5)))

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [202, 202, 202, 202, 429]
    [refused] = [a for a in answers if a.status_code == 429]
    assert graph_error(refused) == (
        "ApplicationThrottled",
        "Application is over its MailboxConcurrency limit.",
    )
    assert "Retry-After" in refused.headers
    assert microsoft.controls.ms_counters()["max_concurrent_seen"] == {OWNER: 4}


def test_the_31st_message_within_a_minute_is_refused_with_retry_after(
    microsoft: Microsoft,
) -> None:
    token = microsoft.token()

    answers = [microsoft.send_mime(token, mime_message()) for _ in range(31)]

    assert [a.status_code for a in answers[:30]] == [202] * 30
    assert answers[30].status_code == 429
    assert graph_error(answers[30])[0] == "ApplicationThrottled"
    assert 1 <= int(answers[30].headers["Retry-After"]) <= 60
    assert len(microsoft.controls.ms_sent(OWNER, content=False)) == 30


def test_recipients_count_per_message_against_the_daily_recipient_limit(
    microsoft: Microsoft,
) -> None:
    token = microsoft.token()
    microsoft.controls.ms_set_limits(OWNER, recipients_per_day=10)
    five = ", ".join(f"customer{n}@example.test" for n in range(5))

    answers = [microsoft.send_mime(token, mime_message(to=five)) for _ in range(3)]

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert "daily limit for message recipients" in graph_error(answers[2])[1]
    assert int(answers[2].headers["Retry-After"]) > 23 * 3600
    usage = microsoft.controls.ms_account(OWNER)["usage"]
    assert usage["recipients_last_day"] == 10


def test_a_message_over_the_size_limit_answers_413(microsoft: Microsoft) -> None:
    token = microsoft.token()
    microsoft.controls.ms_set_limits(OWNER, max_message_bytes=10_000)

    refused = microsoft.send_mime(token, mime_message(attachments={"a.pdf": b"x" * 20_000}))

    assert refused.status_code == 413
    assert graph_error(refused)[0] == "ErrorMessageSizeExceeded"
