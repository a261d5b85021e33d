"""`/openapi.json` as the truth: FastAPI's document from the routes' models, plus what FastAPI
cannot see — the `EmailRequest` body schema (generated from `EmailRequested`, the very model
intake checks, as the event's committed JSON Schema is), the Bearer API key scheme, and which
routes need it."""

from __future__ import annotations

import copy
import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from mailroute.events.email import EmailRequested
from mailroute.events.schemas import OUTCOMES, event_schema
from mailroute.web.api_models import describe

_422 = describe(422)

# Not authenticated by an API key: the probes.
_OPEN = {"/healthz", "/readyz"}
_BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API key of the company: `admin` keys may do everything, `sender` keys"
    " may send and read emails and the Email settings.",
}
_HTTP_RULES = (
    " Over HTTP the company is the API key's: `company_id` may be left out (given, it must be"
    " the key's company). `event_id` may be left out (a new one is made) or given as the"
    " `Idempotency-Key` header; the same event id with the same request answers the first result"
    " again, with a different request 409."
)


def email_request_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The body of `POST /v1/emails` and its `Attachment`, as OpenAPI 3.1 components."""
    schema = copy.deepcopy(event_schema(EmailRequested))
    attachment = schema.pop("$defs")["Attachment"]
    for key in ("$schema", "$id"):
        schema.pop(key)
    schema["title"] = "EmailRequest"
    schema["description"] += _HTTP_RULES
    schema["properties"].pop("type")  # unknown keys are ignored over HTTP
    schema["required"] = ["subject"]
    text = json.dumps(schema).replace("#/$defs/Attachment", "#/components/schemas/Attachment")
    return json.loads(text), attachment


_WEBHOOK_HEADERS = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "description": "`msg_<delivery id>`, the same on every attempt and replay: de-duplicate"
        " on it.",
        "schema": {"type": "string", "pattern": "^msg_[0-9a-f-]{36}$"},
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "description": "The attempt's time, seconds since the epoch.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "description": "`v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>`, keyed with the"
        " endpoint's `whsec_` secret; two, space-separated, while a rotation overlaps.",
        "schema": {"type": "string"},
    },
]


def _webhooks(document: dict[str, Any]) -> None:
    """OpenAPI 3.1 `webhooks`: what mailroute POSTs to a registered endpoint, per event type
    (Standard Webhooks), with the event schemas the queue consumers read."""
    schemas = document["components"]["schemas"]
    found: dict[str, Any] = {}
    for model, event_type in OUTCOMES.items():
        name = str(getattr(model, "type_name"))  # noqa: B009 (a ClassVar of every event)
        schema = copy.deepcopy(event_schema(model))
        for key in ("$schema", "$id"):
            schema.pop(key)
        schemas[name] = schema
        envelope = {
            "type": "object",
            "required": ["type", "timestamp", "data"],
            "properties": {
                "type": {"const": event_type},
                "timestamp": {"type": "string", "format": "date-time"},
                "data": {"$ref": f"#/components/schemas/{name}"},
            },
        }
        found[event_type] = {
            "post": {
                "summary": f"{event_type}: the {name} event, signed",
                "parameters": _WEBHOOK_HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": envelope}},
                },
                "responses": {
                    "2XX": {"description": "Delivered. Anything else (a 3xx too) is retried."},
                    "410": {"description": "Gone: the endpoint is disabled at once."},
                },
            }
        }
    document["webhooks"] = found


def _one_error_body(document: dict[str, Any]) -> None:
    """FastAPI documents its own 422 body; mailroute answers every refusal with `ErrorBody`
    (`web/errors.py` turns FastAPI's validation errors into it)."""
    fastapi_error = "#/components/schemas/HTTPValidationError"
    for operations in document["paths"].values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {}).get("application/json", {})
                if content.get("schema", {}).get("$ref") == fastapi_error:
                    content["schema"] = {"$ref": "#/components/schemas/ErrorBody"}
                    response["description"] = _422
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def _with_security(document: dict[str, Any]) -> None:
    document.setdefault("components", {}).setdefault("securitySchemes", {})["apiKey"] = _BEARER
    for path, operations in document["paths"].items():
        if path in _OPEN:
            continue
        for operation in operations.values():
            operation["security"] = [{"apiKey": []}]


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            request, attachment = email_request_schema()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas["EmailRequest"] = request
            schemas["Attachment"] = attachment
            _one_error_body(document)
            _webhooks(document)
            _with_security(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
