"""REST: outcome webhooks, `/v1/webhooks` (admin API keys, each call scoped to the key's
company): register HTTPS endpoints, rotate their signing secrets, enable a disabled one again,
read the deliveries with their attempts, replay one. The use cases are `WebhookAdmin`'s; a
refusal names the field and the rule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from mailroute.bootstrap import WebServices
from mailroute.core.webhook_ports import WebhookRefusedError
from mailroute.events import FieldProblem
from mailroute.events.ids import UUID_MESSAGE, UUID_RULE, is_canonical_uuid
from mailroute.web.api_models import AUTHENTICATED, error_responses
from mailroute.web.auth import Admin
from mailroute.web.context import context
from mailroute.web.errors import ApiError
from mailroute.web.webhook_models import (
    DeliveryList,
    DeliveryOut,
    SecretRotated,
    SecretRotation,
    WebhookCreate,
    WebhookCreated,
    WebhookDeleted,
    WebhookEndpointOut,
    WebhookList,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Ctx = Annotated[WebServices, Depends(context)]
_STATUS = {"not_found": (404, "not_found"), "invalid": (422, "validation_failed")}
_ONE = error_responses(*AUTHENTICATED, 403, 404)
Status = Literal["pending", "sending", "delivered", "failed", "held"]
# Path parameters: FastAPI checks nothing of them; a malformed id is answered 404, by `_id`.
WebhookId = Annotated[
    str,
    Path(description="The endpoint's id (a canonical UUID).", json_schema_extra={"format": "uuid"}),
]
DeliveryId = Annotated[
    str,
    Path(description="The delivery's id (a canonical UUID).", json_schema_extra={"format": "uuid"}),
]
Limit = Annotated[
    int,
    Query(description="How many, newest first.", json_schema_extra={"minimum": 1, "maximum": 100}),
]


@contextmanager
def _refusals() -> Iterator[None]:
    """The use cases' refusals as the API's: 404, 422 or 409, naming the field and rule."""
    try:
        yield
    except WebhookRefusedError as exc:
        status, code = _STATUS.get(exc.kind, (409, "conflict"))
        problem = FieldProblem(exc.field, exc.rule, exc.message)
        raise ApiError(status, code, exc.message, [problem]) from None


def _id(value: str, field: str = "webhook_id") -> str:
    """Only the canonical form is an id: another form names nothing (404)."""
    if not is_canonical_uuid(value):
        raise ApiError(
            404, "not_found", "no such id", [FieldProblem(field, UUID_RULE, UUID_MESSAGE)]
        )
    return value


@router.post(
    "",
    status_code=201,
    summary="Register a webhook endpoint",
    response_model=WebhookCreated,
    responses=error_responses(*AUTHENTICATED, 403, 409, s409="The company has 20 endpoints."),
)
def create_webhook(body: WebhookCreate, admin: Admin, ctx: Ctx) -> WebhookCreated:
    """Register an HTTPS endpoint for some event types. The answer holds the signing secret
    (`whsec_…`): it is shown this once. Refused (422, field `url`) when the URL is not
    `https://`, carries credentials, or its host resolves to a private address."""
    with _refusals():
        made = ctx.webhooks.create(
            admin.company_id,
            url=body.url,
            event_types=body.event_types,
            description=body.description,
        )
    return WebhookCreated.made(made.endpoint, made.secret)


@router.get(
    "",
    summary="List the company's webhook endpoints",
    response_model=WebhookList,
    responses=error_responses(*AUTHENTICATED, 403),
)
def list_webhooks(admin: Admin, ctx: Ctx) -> WebhookList:
    endpoints = ctx.webhooks.endpoints(admin.company_id)
    return WebhookList(webhooks=[WebhookEndpointOut.of(e) for e in endpoints])


@router.get(
    "/{webhook_id}", summary="A webhook endpoint", response_model=WebhookEndpointOut, responses=_ONE
)
def get_webhook(webhook_id: WebhookId, admin: Admin, ctx: Ctx) -> WebhookEndpointOut:
    with _refusals():
        return WebhookEndpointOut.of(ctx.webhooks.get(admin.company_id, _id(webhook_id)))


@router.delete(
    "/{webhook_id}",
    summary="Delete a webhook endpoint and its deliveries",
    response_model=WebhookDeleted,
    responses=_ONE,
)
def delete_webhook(webhook_id: WebhookId, admin: Admin, ctx: Ctx) -> WebhookDeleted:
    with _refusals():
        ctx.webhooks.delete(admin.company_id, _id(webhook_id))
    return WebhookDeleted(id=webhook_id, deleted=True)


@router.post(
    "/{webhook_id}/rotate-secret",
    summary="Rotate the signing secret",
    response_model=SecretRotated,
    responses=_ONE,
)
def rotate_secret(
    webhook_id: WebhookId, admin: Admin, ctx: Ctx, body: SecretRotation | None = None
) -> SecretRotated:
    """A new secret (shown this once) signs from now on; the replaced one signs as well for
    `overlap_seconds` (default 24 h), so receivers can switch without missing a delivery."""
    overlap = body.overlap_seconds if body is not None else None
    with _refusals():
        made = ctx.webhooks.rotate_secret(
            admin.company_id, _id(webhook_id), overlap_seconds=overlap
        )
    expires = made.endpoint.previous_secret_expires_at
    return SecretRotated(
        id=made.endpoint.id, secret=made.secret, previous_secret_expires_at=expires
    )


@router.post(
    "/{webhook_id}/enable",
    summary="Enable a disabled webhook endpoint again",
    response_model=WebhookEndpointOut,
    responses=_ONE,
)
def enable_webhook(webhook_id: WebhookId, admin: Admin, ctx: Ctx) -> WebhookEndpointOut:
    """New events are delivered again, and deliveries held while it was disabled go out."""
    with _refusals():
        return WebhookEndpointOut.of(ctx.webhooks.enable(admin.company_id, _id(webhook_id)))


@router.get(
    "/{webhook_id}/deliveries",
    summary="The endpoint's deliveries, newest first, with their attempts",
    response_model=DeliveryList,
    responses=_ONE,
)
def list_deliveries(
    webhook_id: WebhookId,
    admin: Admin,
    ctx: Ctx,
    limit: Limit = 20,
    status: Annotated[Status | None, Query()] = None,
) -> DeliveryList:
    with _refusals():
        found = ctx.webhooks.deliveries(
            admin.company_id, _id(webhook_id), limit=limit, status=status
        )
    return DeliveryList(deliveries=[DeliveryOut.of(d) for d in found])


@router.get(
    "/{webhook_id}/deliveries/{delivery_id}",
    summary="One delivery with its attempts",
    response_model=DeliveryOut,
    responses=_ONE,
)
def get_delivery(
    webhook_id: WebhookId, delivery_id: DeliveryId, admin: Admin, ctx: Ctx
) -> DeliveryOut:
    with _refusals():
        found = ctx.webhooks.delivery(
            admin.company_id, _id(webhook_id), _id(delivery_id, "delivery_id")
        )
    return DeliveryOut.of(found)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/replay",
    status_code=202,
    summary="Send a delivery again now, with the same webhook-id",
    response_model=DeliveryOut,
    responses=error_responses(
        *AUTHENTICATED, 403, 404, 409, s409="The endpoint is disabled, or an attempt is in flight."
    ),
)
def replay_delivery(
    webhook_id: WebhookId, delivery_id: DeliveryId, admin: Admin, ctx: Ctx
) -> DeliveryOut:
    """A new attempt now. It carries the delivery's `webhook-id`: a receiver that already
    processed it recognises it."""
    with _refusals():
        found = ctx.webhooks.replay(
            admin.company_id, _id(webhook_id), _id(delivery_id, "delivery_id")
        )
    return DeliveryOut.of(found)


# Two methods share `/v1/webhooks` and `/{webhook_id}`: Starlette's own 405 would name only the
# first route's method in `Allow`. These answer every other method of those paths, naming both.
_OTHER = ["PUT", "PATCH", "OPTIONS", "TRACE"]


def _method_not_allowed(allowed: str) -> None:
    raise ApiError(405, "method_not_allowed", "Method Not Allowed", headers={"Allow": allowed})


@router.api_route("", methods=[*_OTHER, "DELETE"], include_in_schema=False)
def webhooks_other_methods() -> None:
    _method_not_allowed("GET, POST")


@router.api_route("/{webhook_id}", methods=[*_OTHER, "POST"], include_in_schema=False)
def webhook_other_methods(webhook_id: str) -> None:
    _method_not_allowed("DELETE, GET")
