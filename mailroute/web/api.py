"""REST: `POST /v1/emails`, `GET /v1/emails/{id}`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from mailroute.bootstrap import WebServices
from mailroute.events import FieldProblem, wire_json
from mailroute.events.ids import UUID_MESSAGE, is_canonical_uuid
from mailroute.events.text_rules import header_problem
from mailroute.services.intake import Accepted, IdempotencyConflictError
from mailroute.web.api_models import AUTHENTICATED, error_responses
from mailroute.web.auth import Caller
from mailroute.web.context import context
from mailroute.web.correlation import correlation_id
from mailroute.web.email_models import EmailAccepted, EmailView
from mailroute.web.errors import ApiError

router = APIRouter(prefix="/v1", tags=["emails"])
MAX_EVENT_ID = 200
Ctx = Annotated[WebServices, Depends(context)]

EMAIL_REQUEST_EXAMPLE: dict[str, Any] = {
    "event_id": "invoice-2026-0042-sent",
    "kind": "invoice",
    "sender": "auto",
    "to": ["Jane Doe <jane@example.com>"],
    "subject": "Invoice 2026-0042 from Acme",
    "text": "Hello Jane, please find invoice 2026-0042 attached.",
    "attachments": [
        {
            "filename": "invoice-2026-0042.pdf",
            "content_type": "application/pdf",
            "content_base64": (
                "JVBERi0xLjQKMSAwIG9iajw8L1R5cGUvQ2F0YWxvZz4+ZW5kb2JqCnRyYWlsZXI8PC9Sb290IDEgMCBSPj4KJSVFT0YK"
            ),
        }
    ],
}


async def _json_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the email request as JSON",
            [FieldProblem("Content-Type", "application_json", f"got {content_type or 'none'}")],
        )
    # Its size was checked while it was read, before authentication (`web/body_limit.py`).
    raw = await request.body()
    try:
        data = wire_json.loads(raw)
    except wire_json.TooDeepError as exc:
        raise ApiError(
            400,
            "invalid_json",
            "the body nests too deep",
            [FieldProblem("body", exc.rule, str(exc))],
        ) from None
    except ValueError as exc:
        raise ApiError(
            400,
            "invalid_json",
            "the body is not valid JSON",
            [FieldProblem("body", "json", str(exc))],
        ) from None
    if not isinstance(data, dict):
        raise ApiError(
            422,
            "validation_failed",
            "the body must be a JSON object",
            [FieldProblem("body", "object", f"got {type(data).__name__}")],
        )
    return data


def _with_event_id(data: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
    """The request's event id: `event_id`, or the `Idempotency-Key` header (they must agree);
    the header meets the event id's rules, and a refusal names the header."""
    if idempotency_key is not None:
        problem = header_problem(idempotency_key)
        if problem is None and not 1 <= len(idempotency_key) <= MAX_EVENT_ID:
            problem = ("max_length", f"must be 1 to {MAX_EVENT_ID} characters")
        if problem is not None:
            raise ApiError(
                422,
                "validation_failed",
                "the Idempotency-Key header is invalid",
                [FieldProblem("Idempotency-Key", *problem)],
            )
        given = data.setdefault("event_id", idempotency_key)
        if given != idempotency_key:
            raise ApiError(
                422,
                "validation_failed",
                "event_id and Idempotency-Key disagree",
                [FieldProblem("event_id", "matches_idempotency_key", "differs from the header")],
            )
    data.setdefault("event_id", str(uuid.uuid4()))
    return data


def accepted_response(accepted: Accepted) -> JSONResponse:
    """The first answer to an event id, or that answer again (a replay, marked as one)."""
    link = f"/v1/emails/{accepted.email_id}"
    body = {
        "id": accepted.email_id,
        "event_id": accepted.event_id,
        "status": "accepted",
        "correlation_id": accepted.correlation_id,
        "replayed": accepted.replayed,
        "links": {"self": link},
    }
    headers = {"Location": link}
    if accepted.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=202, headers=headers)


# The path parameter of every route of one email (FastAPI checks nothing of it: a malformed id
# is answered 404 like an unknown one, by `email_id_or_404`).
EmailId = Annotated[
    str,
    Path(
        description="The email's id, as `POST /v1/emails` answered it (a canonical UUID).",
        json_schema_extra={"format": "uuid"},
    ),
]


def email_id_or_404(email_id: str) -> str:
    """Only the canonical form is an email id: `urn:uuid:…`, braces or upper case are no email."""
    if not is_canonical_uuid(email_id):
        raise ApiError(
            404, "not_found", "no such email", [FieldProblem("email_id", "uuid", UUID_MESSAGE)]
        )
    return email_id


_ACCEPTED_HEADERS = {
    "Location": {"description": "The email's URL.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "`true` when this answers an event id accepted before.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}
_EMAIL_LINKS = {
    "GetEmail": {
        "operationRef": "#/paths/~1v1~1emails~1{email_id}/get",
        "parameters": {"email_id": "$response.body#/id"},
        "description": "The email's status and outcome.",
    },
    "RetryEmail": {
        "operationRef": "#/paths/~1v1~1emails~1{email_id}~1retry/post",
        "parameters": {"email_id": "$response.body#/id"},
        "description": "Send it again once it failed.",
    },
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "The event id, as a header (if `event_id` is given too, they must agree).",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_EVENT_ID},
}


@router.post(
    "/emails",
    status_code=202,
    summary="Request an email",
    response_model=EmailAccepted,
    responses={
        202: {"headers": _ACCEPTED_HEADERS, "links": _EMAIL_LINKS},
        **error_responses(
            *AUTHENTICATED,
            403,
            404,
            409,
            415,
            s403="`company_id` is another company's.",
            s404="`company_id` names no company.",
            s409="This event id was accepted before for a different request.",
        ),
    },
    openapi_extra={
        "parameters": [_IDEMPOTENCY_KEY],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/EmailRequest"},
                    "example": EMAIL_REQUEST_EXAMPLE,
                }
            },
        },
    },
)
async def request_email(request: Request, caller: Caller, ctx: Ctx) -> JSONResponse:
    """Validate and accept one email. The same `event_id` (or `Idempotency-Key`) with the same
    request answers the first result again (`replayed`), and sends one email; with a different
    request, 409. Answers 202 once the email is stored, even while the message broker is down;
    poll `GET /v1/emails/{id}` for the outcome, or hear it (events, webhooks)."""
    data = await _json_body(request)
    key = request.headers.get("idempotency-key")
    try:
        accepted = await run_in_threadpool(
            ctx.intake.accept,
            _with_event_id(data, key),
            company_id=caller.company_id,
            correlation_id=correlation_id(request),
        )
    except IdempotencyConflictError as exc:
        field = FieldProblem("Idempotency-Key" if key else exc.field, exc.rule, str(exc))
        raise ApiError(409, "idempotency_conflict", str(exc), [field]) from None
    return accepted_response(accepted)


@router.get(
    "/emails/{email_id}",
    summary="An email's status and outcome",
    response_model=EmailView,
    responses=error_responses(401, 404, 413),
)
def get_email(email_id: EmailId, caller: Caller, ctx: Ctx) -> dict[str, Any]:
    view = ctx.emails.get(email_id_or_404(email_id), caller.company_id)
    if view is None:
        raise ApiError(
            404,
            "not_found",
            "no such email for this company",
            [FieldProblem("email_id", "known_email", "unknown to this company")],
        )
    return view.as_json()
