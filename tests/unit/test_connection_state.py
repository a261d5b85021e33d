"""The OAuth state: signed, time-limited, bound to a browser session without revealing it."""

from __future__ import annotations

import pytest

from mailroute.services.signed_oauth_state import (
    StatePayload,
    StateRefusedError,
    StateSigner,
    session_binding,
)

SECRET = "unit-test-secret"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_signed_state_reads_back_its_payload() -> None:
    signer = StateSigner(SECRET)
    payload = StatePayload("nonce-1", "company-1", session_binding(SECRET, "sid-1"))

    assert signer.read(signer.sign(payload)) == payload


def test_a_state_is_refused_once_ten_minutes_have_passed() -> None:
    clock = Clock()
    signer = StateSigner(SECRET, clock=clock)
    state = signer.sign(StatePayload("n", "c", "b"))

    clock.now += 9 * 60 + 59
    assert signer.read(state).nonce == "n"
    clock.now += 2
    with pytest.raises(StateRefusedError) as refused:
        signer.read(state)

    assert refused.value.code == "state_expired"


@pytest.mark.parametrize("position", [0, 10, -20, -5])
def test_a_state_changed_anywhere_is_refused(position: int) -> None:
    # (The very last character is left out: its low base64 bits are padding, so some changes
    # there decode to the same signature bytes.)
    signer = StateSigner(SECRET)
    state = signer.sign(StatePayload("n", "c", "b"))
    index = position % len(state)
    changed = state[:index] + ("x" if state[index] != "x" else "y") + state[index + 1 :]

    with pytest.raises(StateRefusedError) as refused:
        signer.read(changed)

    assert refused.value.code == "state_invalid"


def test_a_state_signed_with_another_key_is_refused() -> None:
    state = StateSigner("someone-else").sign(StatePayload("n", "c", "b"))

    with pytest.raises(StateRefusedError) as refused:
        StateSigner(SECRET).read(state)

    assert refused.value.code == "state_invalid"


def test_an_empty_state_is_refused() -> None:
    with pytest.raises(StateRefusedError):
        StateSigner(SECRET).read("")


def test_the_session_binding_is_stable_keyed_and_does_not_contain_the_session_id() -> None:
    binding = session_binding(SECRET, "session-id-123")

    assert binding == session_binding(SECRET, "session-id-123")
    assert binding != session_binding(SECRET, "session-id-124")
    assert binding != session_binding("another-secret", "session-id-123")
    assert "session-id-123" not in binding


def test_the_state_does_not_carry_the_session_id() -> None:
    signer = StateSigner(SECRET)
    state = signer.sign(StatePayload("n", "c", session_binding(SECRET, "secret-session-id")))

    assert "secret-session-id" not in state
