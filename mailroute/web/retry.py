"""REST: `POST /v1/emails/{id}/retry` re-dispatches a failed email (admin or sender keys)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from mailroute.bootstrap import WebServices
from mailroute.events import FieldProblem
from mailroute.services.dispatching import RetryRefused, redispatch_failed
from mailroute.services.requested import DispatchOutcome
from mailroute.web.api import EmailId, email_id_or_404
from mailroute.web.api_models import error_responses
from mailroute.web.auth import Caller
from mailroute.web.context import context
from mailroute.web.email_models import EmailQueued
from mailroute.web.errors import ApiError

router = APIRouter(prefix="/v1", tags=["emails"])
Ctx = Annotated[WebServices, Depends(context)]


def _refused(refused: RetryRefused) -> ApiError:
    field = FieldProblem(refused.field, refused.rule, refused.message)
    return ApiError(refused.status, refused.code, refused.message, [field])


def _queued(email_id: str, outcome: DispatchOutcome) -> JSONResponse:
    link = f"/v1/emails/{email_id}"
    body = {"id": email_id, "status": "queued", "route": outcome.route, "links": {"self": link}}
    return JSONResponse(body, status_code=202, headers={"Location": link})


@router.post(
    "/emails/{email_id}/retry",
    status_code=202,
    summary="Send a failed email again",
    response_model=EmailQueued,
    responses={
        202: {"headers": {"Location": {"schema": {"type": "string"}}}},
        **error_responses(
            401,
            404,
            409,
            413,
            s409="The email is not failed, still cannot be routed, or its content was purged.",
        ),
    },
)
async def retry_email(email_id: EmailId, caller: Caller, ctx: Ctx) -> JSONResponse:
    """Route a failed email again (e.g. after Gmail was re-authorized): a new attempt with the
    same Message-ID. Refused with 409 when the email is not failed or cannot be routed yet."""
    outcome = await run_in_threadpool(
        redispatch_failed, email_id_or_404(email_id), caller.company_id, ctx.deps
    )
    if isinstance(outcome, RetryRefused):
        raise _refused(outcome)
    return _queued(email_id, outcome)
