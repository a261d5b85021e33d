"""What `/v1/webhooks` takes and answers, as models with their examples (see `webhooks.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mailroute.core.webhook_addresses import MAX_URL
from mailroute.core.webhook_ports import Attempt, Delivery, Endpoint
from mailroute.core.webhook_rules import (
    MAX_DESCRIPTION,
    MAX_EVENT_TYPES,
    MAX_OVERLAP,
    SUBSCRIBABLE,
)

_ID = "3f6c1a9e-5b2d-4c7e-9a10-2b3c4d5e6f70"
_DELIVERY = "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
_WHEN = "2026-01-05T09:30:00Z"
_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw3VoSnNn9yDs="  # noqa: S105 - an example
_ENDPOINT_EXAMPLE: dict[str, Any] = {
    "id": _ID,
    "url": "https://hooks.example.com/mailroute",
    "description": "billing service",
    "event_types": ["email.*"],
    "enabled": True,
    "disabled_at": None,
    "disabled_reason": None,
    "failing_since": None,
    "previous_secret_expires_at": None,
    "created_at": _WHEN,
}


def _example(value: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"example": value})


class WebhookCreate(BaseModel):
    model_config = _example(
        {
            "url": "https://hooks.example.com/mailroute",
            "event_types": ["email.sent", "email.failed"],
            "description": "billing service",
        }
    )

    # The rules are in the schema for clients to read, and checked by `WebhookAdmin` (so a
    # refusal names `url`, `event_types[1]`, … and its rule, as it would for a settings page).
    url: str = Field(
        description="`https://` (`http://` only to a network the operator allows); every "
        "address the host resolves to must be public. No user name or password.",
        json_schema_extra={"maxLength": MAX_URL, "pattern": r"^https?://[^\s@]+$"},
    )
    event_types: list[str] = Field(
        description="Any of " + ", ".join(f"`{t}`" for t in SUBSCRIBABLE) + ", once each.",
        json_schema_extra={
            "items": {"type": "string", "enum": list(SUBSCRIBABLE)},
            "minItems": 1,
            "maxItems": MAX_EVENT_TYPES,
            "uniqueItems": True,
        },
    )
    description: str = Field(
        default="",
        description="For people: one line, at most 200 characters.",
        json_schema_extra={"maxLength": MAX_DESCRIPTION, "pattern": r"^[^\x00-\x1f\x7f-\x9f]*$"},
    )


class SecretRotation(BaseModel):
    model_config = _example({"overlap_seconds": 86400})

    overlap_seconds: int = Field(
        default=86400,
        description="How long the replaced secret keeps signing too (0 to 604800; 24 h).",
        json_schema_extra={"minimum": 0, "maximum": int(MAX_OVERLAP.total_seconds())},
    )


class WebhookEndpointOut(BaseModel):
    model_config = _example(_ENDPOINT_EXAMPLE)

    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_at: datetime | None = Field(description="When it was disabled; null when enabled.")
    disabled_reason: str | None
    failing_since: datetime | None = Field(description="Every attempt since then failed.")
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the secret a rotation replaced signs too."
    )
    created_at: datetime

    @classmethod
    def of(cls, endpoint: Endpoint) -> WebhookEndpointOut:
        return cls(**_endpoint_fields(endpoint))


def _endpoint_fields(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
        "disabled_at": endpoint.disabled_at,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since,
        "previous_secret_expires_at": endpoint.previous_secret_expires_at,
        "created_at": endpoint.created_at,
    }


class WebhookCreated(WebhookEndpointOut):
    model_config = _example({**_ENDPOINT_EXAMPLE, "secret": _SECRET})

    secret: str = Field(description="The signing secret: shown this once, never again.")

    @classmethod
    def made(cls, endpoint: Endpoint, secret: str) -> WebhookCreated:
        return cls(**_endpoint_fields(endpoint), secret=secret)


class WebhookDeleted(BaseModel):
    model_config = _example({"id": _ID, "deleted": True})

    id: str
    deleted: Literal[True] = Field(description="It and its deliveries are gone.")


class WebhookList(BaseModel):
    model_config = _example({"webhooks": [_ENDPOINT_EXAMPLE]})

    webhooks: list[WebhookEndpointOut]


class SecretRotated(BaseModel):
    model_config = _example(
        {"id": _ID, "secret": _SECRET, "previous_secret_expires_at": "2026-01-06T09:30:00Z"}
    )

    id: str
    secret: str = Field(description="The new signing secret: shown this once, never again.")
    previous_secret_expires_at: datetime | None


_ATTEMPT_EXAMPLE: dict[str, Any] = {
    "attempted_at": _WHEN,
    "status_code": 503,
    "response_body": "upstream unavailable",
    "duration_ms": 41,
    "error": None,
}


class AttemptOut(BaseModel):
    model_config = _example(_ATTEMPT_EXAMPLE)

    attempted_at: datetime
    status_code: int | None = Field(description="Null when no answer came (see `error`).")
    response_body: str = Field(description="The first KiB of the answer's body.")
    duration_ms: int
    error: str | None = Field(description="Why no answer came, or why nothing was sent.")

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptOut:
        return cls(
            attempted_at=attempt.attempted_at,
            status_code=attempt.status_code,
            response_body=attempt.response_body,
            duration_ms=attempt.duration_ms,
            error=attempt.error,
        )


_DELIVERY_EXAMPLE: dict[str, Any] = {
    "id": _DELIVERY,
    "webhook_id": f"msg_{_DELIVERY}",
    "event_type": "email.sent",
    "status": "delivered",
    "attempt_count": 2,
    "created_at": _WHEN,
    "next_attempt_at": None,
    "delivered_at": "2026-01-05T09:30:06Z",
    "data": {"type": "EmailSent", "schema_version": 1, "email_id": _ID},
    "attempts": [
        _ATTEMPT_EXAMPLE,
        {
            "attempted_at": "2026-01-05T09:30:06Z",
            "status_code": 200,
            "response_body": "ok",
            "duration_ms": 12,
            "error": None,
        },
    ],
}


class DeliveryOut(BaseModel):
    model_config = _example(_DELIVERY_EXAMPLE)

    id: str
    webhook_id: str = Field(description="The `webhook-id` header: the same on every attempt.")
    event_type: str
    status: Literal["pending", "sending", "delivered", "failed", "held"] = Field(
        description="`held`: waits for its endpoint to be enabled again."
    )
    attempt_count: int
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    data: dict[str, Any] = Field(description="The event, as on the `mailroute.events` exchange.")
    attempts: list[AttemptOut]

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        return cls(
            id=delivery.id,
            webhook_id=delivery.webhook_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempt_count=delivery.attempt_count,
            created_at=delivery.created_at,
            next_attempt_at=delivery.next_attempt_at,
            delivered_at=delivery.delivered_at,
            data=delivery.data,
            attempts=[AttemptOut.of(a) for a in delivery.attempts],
        )


class DeliveryList(BaseModel):
    model_config = _example({"deliveries": [_DELIVERY_EXAMPLE]})

    deliveries: list[DeliveryOut]
