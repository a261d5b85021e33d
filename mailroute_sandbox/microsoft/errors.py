"""Microsoft's error bodies: the identity platform's AADSTS answers and Graph's error JSON.

Identity errors (`identity_error`): HTTP 400 (401 for `invalid_client`) with `error`,
`error_description` ("AADSTS<code>: <text>" plus trace, correlation id and timestamp lines),
`error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri` and, where Microsoft sends
one, `suberror`. Graph errors (`graph_error`): `{"error": {"code", "message", "innerError":
{"date", "request-id", "client-request-id"}}}`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Aadsts:
    """One AADSTS answer of the token endpoint."""

    error: str
    code: int
    text: str
    suberror: str | None = None
    status: int = 400


class IdentityError(Exception):
    def __init__(self, answer: Aadsts) -> None:
        super().__init__(f"{answer.error}: AADSTS{answer.code}")
        self.answer = answer


_REAUTH = "Send a new interactive authorization request for this user and resource."
# the `invalidate` control's reasons -> what refreshing then answers (research §2, the contract)
INVALIDATION: dict[str, Aadsts] = {
    "inactive": Aadsts(
        "invalid_grant",
        700082,
        "The refresh token has expired due to inactivity. The token was issued on {issued} "
        "and was inactive for 90.00:00:00.",
    ),
    "expired": Aadsts(
        "invalid_grant",
        70008,
        "The provided authorization code or refresh token has expired due to inactivity. "
        + _REAUTH,
    ),
    "revoked": Aadsts(
        "invalid_grant",
        50173,
        "The provided grant has expired due to it being revoked, a fresh auth token is needed. "
        "The user might have changed or reset their password.",
    ),
    "consent_missing": Aadsts(
        "invalid_grant",
        65001,
        "The user or administrator has not consented to use the application with ID "
        "'{client_id}'. " + _REAUTH,
    ),
    "mfa_required": Aadsts(
        "invalid_grant",
        50076,
        "Due to a configuration change made by your administrator, or because you moved to a "
        "new location, you must use multi-factor authentication to access "
        "'00000003-0000-0000-c000-000000000000'.",
        suberror="basic_action",
    ),
}
BAD_SECRET = Aadsts(
    "invalid_client",
    7000215,
    "Invalid client secret provided. Ensure the secret being sent in the request is the client "
    "secret value, not the client secret ID, for a secret added to app '{client_id}'.",
    status=401,
)
UNKNOWN_CLIENT = Aadsts(
    "unauthorized_client",
    700016,
    "Application with identifier '{client_id}' was not found in the directory. This can happen "
    "if the application has not been installed by the administrator of the tenant.",
)
MISSING_SECRET = Aadsts(
    "invalid_client",
    7000218,
    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    status=401,
)
CODE_REDEEMED = Aadsts(
    "invalid_grant",
    54005,
    "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use "
    "an existing refresh token.",
)
CODE_EXPIRED = INVALIDATION["expired"]
BAD_VERIFIER = Aadsts(
    "invalid_grant",
    501481,
    "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
)
MALFORMED = Aadsts("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
REDIRECT_MISMATCH = Aadsts(
    "invalid_grant",
    50011,
    "The redirect URI '{redirect_uri}' specified in the request does not match the redirect "
    "URIs configured for the application '{client_id}'.",
)
UNSUPPORTED_GRANT = Aadsts(
    "unsupported_grant_type",
    70003,
    "The app requested an unsupported grant type '{grant_type}'.",
)
NOT_CONSENTED_SCOPE = Aadsts(
    "invalid_grant",
    65001,
    "The user or administrator has not consented to use the application with ID "
    "'{client_id}'. " + _REAUTH,
    suberror="consent_required",
)
ROTATED = Aadsts(
    "invalid_grant",
    50173,
    "The provided grant has expired due to it being revoked, a fresh auth token is needed. "
    "(This refresh token was replaced by a newer one.)",
)


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(json.dumps(payload), status_code=status, media_type=JSON_TYPE, headers=headers)


def identity_error(answer: Aadsts, **fill: str) -> Response:
    trace, correlation, stamp = str(uuid.uuid4()), str(uuid.uuid4()), _now_text()
    text = answer.text.format_map(_Missing(fill))
    description = (
        f"AADSTS{answer.code}: {text}\r\nTrace ID: {trace}\r\n"
        f"Correlation ID: {correlation}\r\nTimestamp: {stamp}"
    )
    body: dict[str, Any] = {
        "error": answer.error,
        "error_description": description,
        "error_codes": [answer.code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={answer.code}",
    }
    if answer.suberror:
        body["suberror"] = answer.suberror
    return json_response(body, answer.status)


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def graph_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    inner = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": str(uuid.uuid4()),
        "client-request-id": str(uuid.uuid4()),
    }
    body = {"error": {"code": code, "message": message, "innerError": inner}}
    return json_response(body, status, headers)


def throttled(message: str, retry_after: int, status: int = 429) -> Response:
    code = "ApplicationThrottled" if status == 429 else "ErrorServerBusy"
    return graph_error(status, code, message, {"Retry-After": str(max(1, retry_after))})
