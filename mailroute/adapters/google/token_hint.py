"""What google-auth drops from a refresh answer: `refresh_token_expires_in`, the seconds until
the refresh token ends (Google sends it for a project in testing mode and for time-based
access). google-auth's `Credentials.refresh` keeps the access token, its expiry and the scopes,
not the rest of the answer, so the token call goes through `HintReadingRequest`, which reads
the field off the successful answer and passes the answer on unchanged."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import google.auth.transport

HINT = "refresh_token_expires_in"


class HintReadingRequest(google.auth.transport.Request):
    """Wraps one process's transport for one refresh; `hint` is what the answer said."""

    def __init__(self, transport: google.auth.transport.Request) -> None:
        self._transport = transport
        self.hint: object = None

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        response = self._transport(
            url, method=method, body=body, headers=headers, timeout=timeout, **kwargs
        )
        if response.status == 200:
            try:
                answer = json.loads(response.data or b"{}")
            except ValueError:
                answer = None
            if isinstance(answer, dict):
                self.hint = answer.get(HINT)
        return response
