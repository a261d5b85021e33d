"""Google is asked to forget every grant mailroute lets go of, and asked again with backoff
until it confirms; a revocation whose account is connected again is dropped unasked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailroute.core.errors import ProviderUnavailableError
from mailroute.core.retry import RetryPolicy
from mailroute.services.revocations import KEEPS_ASKING, STILL_CONNECTED, GoogleRevocations
from tests.fakes import FakeGoogleRevocation, FakePendingRevocations, PendingRevocationRow

COMPANY = "00000000-0000-4000-8000-000000000001"
OLD = "1//0old"  # the refresh token let go of
DOWN = ProviderUnavailableError("Google's revoke endpoint answered 503", code="google_unavailable")


def _revocations(
    google: FakeGoogleRevocation, *, base: float = 60.0
) -> tuple[GoogleRevocations, FakePendingRevocations]:
    pending = FakePendingRevocations()
    policy = RetryPolicy(base_seconds=base, cap_seconds=3600.0)
    return GoogleRevocations(pending, google, retry=policy), pending


def _queue(pending: FakePendingRevocations, subject: str = "111") -> None:
    pending.queue(
        OLD,
        company_id=COMPANY,
        google_subject=subject,
        address="a@x.test",
        reason="revoke_access",
    )


def test_a_revocation_google_confirms_is_settled_and_its_token_forgotten() -> None:
    google = FakeGoogleRevocation(True)
    revocations, pending = _revocations(google)
    _queue(pending)

    result = revocations.revoke_new(COMPANY)

    assert (result.asked, result.confirmed, result.problem) == (True, True, None)
    assert google.asked == [OLD]
    assert (pending.rows[0].status, pending.rows[0].token) == ("confirmed", None)


def test_google_down_is_said_and_the_next_attempt_is_scheduled_with_backoff() -> None:
    google = FakeGoogleRevocation(DOWN)
    revocations, pending = _revocations(google, base=60.0)
    _queue(pending)

    before = datetime.now(UTC)
    result = revocations.revoke_new(COMPANY)

    row = pending.rows[0]
    assert not result.confirmed
    assert result.problem is not None
    assert result.problem.startswith("Google did not confirm the revocation (Google's revoke")
    assert result.problem.endswith(KEEPS_ASKING)
    assert (row.status, row.last_error, row.token) == ("pending", "google_unavailable", OLD)
    assert row.retry_at is not None
    assert before + timedelta(seconds=29) <= row.retry_at <= before + timedelta(seconds=61)


def test_the_clock_keeps_asking_until_google_confirms() -> None:
    google = FakeGoogleRevocation(DOWN, False, DOWN)
    revocations, pending = _revocations(google, base=0.0)
    _queue(pending)
    revocations.revoke_new(COMPANY)

    confirmed = [revocations.retry_due() for _ in range(4)]

    assert confirmed == [0, 0, 1, 0]
    assert google.asked == [OLD] * 4
    assert (pending.rows[0].status, pending.rows[0].attempts) == ("confirmed", 4)


def test_a_token_no_key_decrypts_is_not_sent_to_google_and_is_asked_again_later() -> None:
    google = FakeGoogleRevocation()
    revocations, pending = _revocations(google)
    pending.rows.append(PendingRevocationRow(1, None, COMPANY, "111", "a@x.test", "revoke_access"))

    result = revocations.revoke_new(COMPANY)

    assert google.asked == []
    assert result.problem is not None
    assert "The stored token cannot be read" in result.problem
    assert pending.rows[0].last_error == "token_unreadable"
    assert pending.rows[0].status == "pending"


def test_a_revocation_whose_account_is_connected_again_is_dropped_unasked() -> None:
    google = FakeGoogleRevocation()
    revocations, pending = _revocations(google)
    _queue(pending, subject="222")
    pending.connected_again.add("222")

    result = revocations.revoke_new(COMPANY)

    assert google.asked == []
    assert result.problem == STILL_CONNECTED
    assert pending.rows[0].status == "cancelled"


def test_nothing_to_revoke_asks_nothing() -> None:
    revocations, _pending = _revocations(FakeGoogleRevocation())

    assert revocations.revoke_new(COMPANY).asked is False
    assert revocations.retry_due() == 0
