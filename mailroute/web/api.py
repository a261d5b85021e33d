"""REST: `POST /v1/emails`, `GET /v1/emails/{id}`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from mailroute.bootstrap import WebServices
from mailroute.events import FieldProblem, wire_json
from mailroute.events.ids import UUID_MESSAGE, is_canonical_uuid
from mailroute.events.text_rules import header_problem
from mailroute.services.intake import Accepted
from mailroute.web.auth import Caller
from mailroute.web.context import context
from mailroute.web.correlation import correlation_id
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
            "content_base64": "JVBERi0xLjQK...",
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
    link = f"/v1/emails/{accepted.email_id}"
    body = {
        "id": accepted.email_id,
        "event_id": accepted.event_id,
        "status": "accepted",
        "correlation_id": accepted.correlation_id,
        "links": {"self": link},
    }
    return JSONResponse(body, status_code=202, headers={"Location": link})


def email_id_or_404(email_id: str) -> str:
    """Only the canonical form is an email id: `urn:uuid:…`, braces or upper case are no email."""
    if not is_canonical_uuid(email_id):
        raise ApiError(
            404, "not_found", "no such email", [FieldProblem("email_id", "uuid", UUID_MESSAGE)]
        )
    return email_id


@router.post(
    "/emails",
    status_code=202,
    summary="Request an email",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"example": EMAIL_REQUEST_EXAMPLE}},
        }
    },
)
async def request_email(
    request: Request,
    caller: Caller,
    ctx: Ctx,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Validate and accept one email. The same `event_id` (or `Idempotency-Key`) twice sends
    one email. Answers 202 with the email's id once it is stored, even while the message
    broker is down; poll `GET /v1/emails/{id}` for the outcome."""
    data = await _json_body(request)
    accepted = await run_in_threadpool(
        ctx.intake.accept,
        _with_event_id(data, idempotency_key),
        company_id=caller.company_id,
        correlation_id=correlation_id(request),
    )
    return accepted_response(accepted)


@router.get("/emails/{email_id}", summary="An email's status and outcome")
def get_email(email_id: str, caller: Caller, ctx: Ctx) -> dict[str, Any]:
    view = ctx.emails.get(email_id_or_404(email_id), caller.company_id)
    if view is None:
        raise ApiError(
            404,
            "not_found",
            "no such email for this company",
            [FieldProblem("email_id", "known_email", "unknown to this company")],
        )
    return view.as_json()
