"""The Email settings every connection route answers with: the company's mailboxes (the Gmail
one also as the top-level fields) and its From options."""

from __future__ import annotations

from typing import Any

from mailroute.bootstrap import WebServices
from mailroute.services.settings_page import company_email_settings
from mailroute.web.errors import ApiError

GONE = "This API key's company no longer exists."


def settings_json(ctx: WebServices, company_id: str) -> dict[str, Any]:
    company = ctx.companies.get(company_id)
    if company is None:
        raise ApiError(404, "unknown_company", "this API key's company no longer exists")
    return company_email_settings(company, ctx).as_json()
