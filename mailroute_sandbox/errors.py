"""Google's error responses, byte-compatible enough for googleapiclient and google-auth to parse.

API errors use the JSON shape of research §2.3 (`error.code/message/errors[]/status/details[]`);
token-endpoint errors use OAuth's `{"error", "error_description"}`.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

JSON_TYPE = "application/json; charset=UTF-8"
SEND_METHOD = "caribou.api.proto.MailboxService.SendMessage"
_SEE_DEVCONSOLE = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps(payload, indent=2).encode()
    return Response(body, status_code=status, media_type=JSON_TYPE, headers=headers)


def api_error(
    code: int,
    message: str,
    reason: str,
    *,
    domain: str = "global",
    detail_reason: str | None = None,
    error_extra: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    status: str | None = None,
) -> Response:
    """A Google JSON API error; `detail_reason` adds a google.rpc.ErrorInfo to `details`;
    `status` overrides the gRPC code name the HTTP status usually maps to."""
    item: dict[str, str] = {"message": message, "domain": domain, "reason": reason}
    item.update(error_extra or {})
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "errors": [item],
        "status": status or _STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if detail_reason is not None:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": detail_reason,
                "domain": "googleapis.com",
                "metadata": {"service": "gmail.googleapis.com", "method": SEND_METHOD},
            }
        ]
    return json_response({"error": error}, code, headers)


def missing_credentials() -> Response:
    return api_error(
        401,
        "Request is missing required authentication credential. " + _SEE_DEVCONSOLE,
        "required",
        detail_reason="CREDENTIALS_MISSING",
        error_extra={"location": "Authorization", "locationType": "header"},
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
    )


def invalid_credentials(*, expired: bool, message: str | None = None) -> Response:
    return api_error(
        401,
        message or "Request had invalid authentication credentials. " + _SEE_DEVCONSOLE,
        "authError",
        detail_reason="ACCESS_TOKEN_EXPIRED" if expired else None,
        error_extra={"message": "Invalid Credentials", "location": "Authorization"}
        | {"locationType": "header"},
        headers={
            "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
        },
    )


def insufficient_scopes() -> Response:
    return api_error(
        403,
        "Request had insufficient authentication scopes.",
        "insufficientPermissions",
        detail_reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT",
        error_extra={"message": "Insufficient Permission"},
        headers={
            "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
            'error="insufficient_scope", scope="https://www.googleapis.com/auth/gmail.send"'
        },
    )


def invalid_argument(message: str) -> Response:
    return api_error(400, message, "invalidArgument")


def failed_precondition(message: str | None = None) -> Response:
    """Gmail not enabled for the user (or a service account without delegation)."""
    text = message or "Precondition check failed."
    return api_error(400, text, "failedPrecondition", status="FAILED_PRECONDITION")


def user_rate_limited_403(message: str | None = None) -> Response:
    """The legacy per-user rate limit answer (403, not 429)."""
    text = message or "User Rate Limit Exceeded"
    return api_error(403, text, "userRateLimitExceeded", domain="usageLimits")


def project_rate_limited_403(message: str | None = None) -> Response:
    """The legacy per-project rate limit answer (403, not 429)."""
    return api_error(
        403, message or "Rate Limit Exceeded", "rateLimitExceeded", domain="usageLimits"
    )


def bad_request(message: str) -> Response:
    return api_error(400, message, "badRequest")


def delegation_denied(user_id: str) -> Response:
    return api_error(403, f"Delegation denied for {user_id}", "forbidden")


def not_found(message: str = "Requested entity was not found.") -> Response:
    return api_error(404, message, "notFound")


def too_large(limit: int) -> Response:
    message = f"Request payload size exceeds the limit: {limit} bytes."
    return api_error(413, message, "uploadTooLarge")


def rate_limited(message: str) -> Response:
    return api_error(429, message, "rateLimitExceeded", domain="usageLimits")


def server_error(code: int) -> Response:
    if code == 500:
        return api_error(500, "Backend Error", "backendError")
    if code == 504:
        return api_error(504, "Deadline exceeded", "deadlineExceeded")
    return api_error(code, "The service is currently unavailable.", "backendError")


def oauth_error(status: int, error: str, description: str) -> Response:
    return json_response({"error": error, "error_description": description}, status)
