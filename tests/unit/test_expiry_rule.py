"""When a connection's refresh token ends, and whether the page, the API and the clock call
that soon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailroute.core.expiry import (
    EXPIRES_SOON_WINDOW,
    enters_window,
    expires_at_from_hint,
    expiry,
)
from mailroute.core.records import ConnectionRecord
from mailroute.services.email_settings import email_settings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_window_is_three_days() -> None:
    assert timedelta(days=3) == EXPIRES_SOON_WINDOW


def test_an_end_within_three_days_is_soon_and_gives_the_date() -> None:
    ends = NOW + timedelta(days=2, hours=23)

    found = expiry(ends, now=NOW)

    assert found.soon
    assert found.expires_at == ends


def test_an_end_further_than_three_days_is_known_but_not_soon() -> None:
    found = expiry(NOW + timedelta(days=6, hours=23, minutes=59), now=NOW)

    assert found.known
    assert not found.soon


def test_the_window_includes_its_last_second() -> None:
    assert expiry(NOW + EXPIRES_SOON_WINDOW, now=NOW).soon


def test_no_known_end_is_never_soon() -> None:
    found = expiry(None, now=NOW)

    assert not found.known
    assert not found.soon


def test_a_connection_that_is_not_active_has_no_end_to_show() -> None:
    found = expiry(NOW + timedelta(hours=1), now=NOW, active=False)

    assert found.expires_at is None
    assert not found.soon


def test_an_end_that_passed_is_still_soon_until_the_break_is_found() -> None:
    assert expiry(NOW - timedelta(minutes=1), now=NOW).soon


def test_an_advance_notice_is_due_inside_the_window_only_before_the_end() -> None:
    window = EXPIRES_SOON_WINDOW
    assert enters_window(NOW + timedelta(days=1), now=NOW, window=window)
    assert not enters_window(NOW + timedelta(days=4), now=NOW, window=window)
    assert not enters_window(NOW - timedelta(seconds=1), now=NOW, window=window)
    assert not enters_window(NOW, now=NOW, window=window)


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (604799, NOW + timedelta(seconds=604799)),
        ("604799", NOW + timedelta(seconds=604799)),
        (3600.7, NOW + timedelta(seconds=3600)),
        (None, None),
        (0, None),
        (-5, None),
        ("soon", None),
        (True, None),
        (float("inf"), None),
        (float("nan"), None),
        ({"seconds": 3}, None),
    ],
)
def test_the_providers_hint_is_seconds_from_the_answer(hint: object, expected: object) -> None:
    assert expires_at_from_hint(hint, now=NOW) == expected


def _record(state: str, ends: datetime | None) -> ConnectionRecord:
    return ConnectionRecord(
        id="c1",
        company_id="co1",
        state=state,  # type: ignore[arg-type]
        address="billing@acme.example",
        google_subject="sub",
        generation=1,
        scopes=(),
        connected_by=None,
        connected_at=NOW,
        last_verified_at=NOW,
        broken_reason=None,
        broken_at=None,
        access_token_expires_at=None,
        daily_cap=None,
        has_refresh_token=True,
        refresh_expires_at=ends,
    )


def test_the_settings_show_expires_soon_with_the_date_for_an_active_mailbox() -> None:
    ends = NOW + timedelta(days=2)

    view = email_settings(
        _record("active", ends), company_name="Acme", default_from="no-reply@x.example", now=NOW
    )

    gmail = view.as_json()["mailboxes"][0]
    assert gmail["expires_soon"] is True
    assert gmail["expires_at"] == ends.isoformat()
    assert view.as_json()["mailboxes"][1]["expires_at"] is None


def test_the_settings_show_no_end_for_a_mailbox_that_is_not_connected() -> None:
    view = email_settings(
        _record("not_connected", NOW + timedelta(days=1)),
        company_name="Acme",
        default_from="no-reply@x.example",
        now=NOW,
    )

    gmail = view.as_json()["mailboxes"][0]
    assert gmail["expires_soon"] is False
    assert gmail["expires_at"] is None
