"""The Webhooks section of the Email settings page: the same use cases as `/v1/webhooks`
(`WebhookAdmin`), for a signed-in admin, each form with the session's CSRF token.

    POST /settings/email/webhooks                        add an endpoint: its secret, once
    POST /settings/email/webhooks/{id}/rotate            a new secret, once (the old one signs
                                                         for a day more)
    POST /settings/email/webhooks/{id}/enable            enable a disabled endpoint again
    POST /settings/email/webhooks/{id}/delete            remove it (after the confirm dialog)
    GET  /settings/email/webhooks/{id}                   its deliveries, their attempts, Replay
    POST /settings/email/webhooks/{id}/deliveries/{delivery_id}/replay

A new secret is shown on the answer to its POST itself, never stored in the session's notices:
it is encrypted at rest, and nothing else ever shows it again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailroute.core.records import AdminUser
from mailroute.core.webhook_ports import WebhookRefusedError
from mailroute.core.webhook_rules import EVENT_TYPES
from mailroute.services.webhook_endpoints import WithSecret
from mailroute.web.browser_session import csrf_token, flash, pop_flash
from mailroute.web.page_access import (
    FormAdmin,
    FormField,
    Gmail,
    message_page,
    not_signed_in,
    page_admin,
)
from mailroute.web.templates import TEMPLATES

router = APIRouter(include_in_schema=False)
PAGE = "/settings/email"
EventTypes = Annotated[list[str], Form()]


def _back(to: str = PAGE + "#webhooks-card") -> RedirectResponse:
    return RedirectResponse(to, status_code=303)


def _refused(request: Request, exc: WebhookRefusedError) -> RedirectResponse:
    flash(request, "error", f"The webhook was not changed: {exc.field}: {exc.message}")
    return _back()


def _secret_page(request: Request, admin: AdminUser, made: WithSecret, what: str) -> Response:
    return TEMPLATES.TemplateResponse(
        request,
        "webhook_secret.html",
        {"admin": admin, "endpoint": made.endpoint, "secret": made.secret, "what": what},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/settings/email/webhooks")
def add_webhook(
    request: Request,
    admin: FormAdmin,
    gmail: Gmail,
    url: FormField = "",
    description: FormField = "",
    event_types: EventTypes = [],  # noqa: B006 - FastAPI copies a default per request
) -> Response:
    try:
        made = gmail.webhooks.create(
            admin.company_id, url=url.strip(), event_types=event_types, description=description
        )
    except WebhookRefusedError as exc:
        return _refused(request, exc)
    return _secret_page(request, admin, made, "added")


@router.post("/settings/email/webhooks/{endpoint_id}/rotate")
def rotate_secret(request: Request, endpoint_id: str, admin: FormAdmin, gmail: Gmail) -> Response:
    try:
        made = gmail.webhooks.rotate_secret(admin.company_id, endpoint_id)
    except WebhookRefusedError as exc:
        return _refused(request, exc)
    return _secret_page(request, admin, made, "rotated")


@router.post("/settings/email/webhooks/{endpoint_id}/enable")
def enable(request: Request, endpoint_id: str, admin: FormAdmin, gmail: Gmail) -> Response:
    try:
        endpoint = gmail.webhooks.enable(admin.company_id, endpoint_id)
    except WebhookRefusedError as exc:
        return _refused(request, exc)
    flash(request, "success", f"Webhook {endpoint.url} is enabled again; held events go out now.")
    return _back()


@router.post("/settings/email/webhooks/{endpoint_id}/delete")
def delete(request: Request, endpoint_id: str, admin: FormAdmin, gmail: Gmail) -> Response:
    try:
        gmail.webhooks.delete(admin.company_id, endpoint_id)
    except WebhookRefusedError as exc:
        return _refused(request, exc)
    flash(request, "success", "The webhook endpoint was removed; nothing more is sent to it.")
    return _back()


def _deliveries_page(
    request: Request, admin: AdminUser, gmail: Gmail, endpoint_id: str
) -> Response:
    try:
        endpoint = gmail.webhooks.get(admin.company_id, endpoint_id)
        found = gmail.webhooks.deliveries(admin.company_id, endpoint_id, limit=50)
    except WebhookRefusedError:
        return message_page(request, "No such webhook", "It may have been removed.", 404, back=True)
    return TEMPLATES.TemplateResponse(
        request,
        "webhook_deliveries.html",
        {
            "admin": admin,
            "endpoint": endpoint,
            "deliveries": found,
            "csrf": csrf_token(request),
            "notices": pop_flash(request),
        },
    )


@router.get("/settings/email/webhooks/{endpoint_id}", response_class=HTMLResponse)
def deliveries(request: Request, endpoint_id: str, gmail: Gmail) -> Response:
    admin = page_admin(request)
    if admin is None:
        return not_signed_in(request)
    return _deliveries_page(request, admin, gmail, endpoint_id)


@router.post("/settings/email/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay")
def replay(
    request: Request, endpoint_id: str, delivery_id: str, admin: FormAdmin, gmail: Gmail
) -> Response:
    page = f"{PAGE}/webhooks/{endpoint_id}"
    try:
        gmail.webhooks.replay(admin.company_id, endpoint_id, delivery_id)
    except WebhookRefusedError as exc:
        flash(request, "error", f"Not replayed: {exc.message}")
        return _back(page)
    flash(request, "success", "Sent again now, with the same webhook-id; its answer shows below.")
    return _back(page)


def page_context(gmail: Gmail, company_id: str) -> dict[str, object]:
    """What the settings page's Webhooks section shows."""
    return {
        "webhooks": gmail.webhooks.endpoints(company_id),
        "event_types": EVENT_TYPES,
        "webhook_disable_days": f"{gmail.settings.webhook_disable_after_days:g}",
    }
