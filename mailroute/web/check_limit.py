"""Costly calls bounded: "Check now" on the settings page and `POST /v1/<provider>/verify` each
refresh a token at the provider, so together they are limited per company and provider
(GMAIL_CHECKS_PER_MINUTE in any minute, counted in PostgreSQL for every web process). One more
is refused with 429, `Retry-After`, and the field `company_id` with the rule
`checks_per_minute`; nothing is asked of the provider."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from mailroute.bootstrap import WebServices
from mailroute.core.providers import provider as registered
from mailroute.events import FieldProblem
from mailroute.web.errors import ApiError, error_body
from mailroute.web.page_access import message_page

PERIOD = timedelta(minutes=1)


def check_refused(ctx: WebServices, company_id: str, provider: str = "gmail") -> ApiError | None:
    """Count one check of the company's `provider` connection; the refusal when it is one too
    many."""
    limit = ctx.settings.gmail_checks_per_minute
    decision = ctx.rate_limits.take(f"{provider}_check:{company_id}", limit, PERIOD)
    if decision.allowed:
        return None
    seconds = decision.retry_after_seconds
    problem = FieldProblem(
        "company_id",
        "checks_per_minute",
        f"at most {limit} connection checks a minute per company; retry in {seconds} s",
    )
    return ApiError(
        429,
        "rate_limited",
        f"the {registered(provider).label} connection was checked too often",
        [problem],
        headers={"Retry-After": str(seconds)},
    )


def limit_checks(ctx: WebServices, company_id: str, provider: str = "gmail") -> None:
    """Raise the 429 when the company checked this connection too often."""
    refused = check_refused(ctx, company_id, provider)
    if refused is not None:
        raise refused


def refused_check(request: Request, refused: ApiError, *, as_json: bool) -> Response:
    """The 429 as the settings page's auto-check (JSON) or its Check now button (a page)."""
    if as_json:
        body = error_body(refused.code, refused.message, refused.fields)
        return JSONResponse(body, refused.status, headers=refused.headers)
    return message_page(
        request,
        "Checked too often",
        f"{refused.message[:1].upper()}{refused.message[1:]}: {refused.fields[0].message}.",
        refused.status,
        back=True,
        headers=refused.headers,
    )
