"""The OAuth `state` parameter: signed with SECRET_KEY, time-limited, naming a single-use nonce.

    state = sign({"n": nonce, "c": company_id, "b": session_binding})

The signature stops tampering, the timestamp inside it stops late use, and the nonce's row in
`oauth_states` (consumed once) stops replay. The browser session is bound by an HMAC of its id,
so the session id itself never travels through the provider. Each provider signs with a salt of
its own, so a state issued for Google's callback is refused at Microsoft's, and the other way.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

STATE_MAX_AGE = timedelta(minutes=10)
GOOGLE_STATE_SALT = "mailroute.gmail.oauth-state"
MICROSOFT_STATE_SALT = "mailroute.microsoft.oauth-state"


class StateRefusedError(ValueError):
    """The state cannot be honoured; `code` says why (tampered, expired)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class StatePayload:
    nonce: str
    company_id: str
    session_binding: str


def session_binding(secret_key: str, session_id: str) -> str:
    """A keyed hash of the browser session id: binds a state without revealing the id."""
    digest = hmac.new(secret_key.encode(), b"session:" + session_id.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


class StateSigner:
    """Signs and reads states for one provider's callback (`salt`); `clock` (seconds since the
    epoch) is injectable for tests."""

    def __init__(
        self,
        secret_key: str,
        *,
        max_age: timedelta = STATE_MAX_AGE,
        clock: Callable[[], float] = time.time,
        salt: str = GOOGLE_STATE_SALT,
    ) -> None:
        class _ClockSigner(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        self.max_age = max_age
        self._serializer: URLSafeTimedSerializer = URLSafeTimedSerializer(
            secret_key, salt=salt, signer=_ClockSigner
        )

    def sign(self, payload: StatePayload) -> str:
        data = {"n": payload.nonce, "c": payload.company_id, "b": payload.session_binding}
        return str(self._serializer.dumps(data))

    def read(self, state: str) -> StatePayload:
        """The payload of a genuine, unexpired state; `StateRefusedError` otherwise."""
        try:
            data: Any = self._serializer.loads(state, max_age=int(self.max_age.total_seconds()))
        except SignatureExpired:
            raise StateRefusedError(
                "state_expired",
                "This sign-in took longer than 10 minutes and has expired. Please start again.",
            ) from None
        except BadSignature:
            raise StateRefusedError(
                "state_invalid",
                "This sign-in response was not issued by mailroute or was altered."
                " Please start again from the Email settings page.",
            ) from None
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) for k in ("n", "c", "b")
        ):
            raise StateRefusedError("state_invalid", "This sign-in response is malformed.")
        return StatePayload(nonce=data["n"], company_id=data["c"], session_binding=data["b"])
