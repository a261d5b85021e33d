"""What the JSON API answers, as models: the one error body, and `error_responses` to document
the refusals a route can give, so `/openapi.json` lists every status code with its schema.

Every refusal has one shape: `{"error": {"code", "message", "fields": [...]}}`; each field entry
names the field and the rule it broke."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FieldRefusal(BaseModel):
    field: str = Field(description="The field, header or parameter: `to[1]`, `Idempotency-Key`.")
    rule: str = Field(description="The rule it broke: `email_address`, `max_length`, ….")
    message: str


class ErrorDetail(BaseModel):
    code: str = Field(description="`validation_failed`, `unauthenticated`, `not_found`, ….")
    message: str
    fields: list[FieldRefusal] | None = Field(
        default=None, description="Present when the refusal is about particular fields."
    )


class ErrorBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "error": {
                    "code": "validation_failed",
                    "message": "the email request is invalid",
                    "fields": [
                        {
                            "field": "to[0]",
                            "rule": "email_address",
                            "message": "not an email address",
                        }
                    ],
                }
            }
        }
    )

    error: ErrorDetail


_WHY = {
    400: "The body is not JSON, or nests too deep.",
    401: "No API key, or an unknown or revoked one (`WWW-Authenticate: Bearer`).",
    403: "The API key may not do this (an admin key is needed, or another company's id).",
    404: "No such resource for this API key's company.",
    409: "The request conflicts with the resource's state.",
    413: "The body is larger than the limit.",
    415: "The body is not `application/json`.",
    422: "A field, header or parameter breaks a rule; `fields` names each one.",
    429: "Too many requests; `Retry-After` says when to ask again.",
    503: "PostgreSQL (or, for Python `publish`, RabbitMQ) is unavailable: nothing is known to be"
    " done; retry after `Retry-After` seconds, with the same event id.",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
    429: {"Retry-After": {"schema": {"type": "string"}}},
    503: {"Retry-After": {"schema": {"type": "string"}}},
}
# What every authenticated route can answer before its own logic runs.
AUTHENTICATED = (400, 401, 413, 422)


def describe(status: int) -> str:
    return _WHY.get(status, "Refused.")


def error_responses(*statuses: int, **why: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with the error body; `why` overrides a description
    (`why={"409": "..."}` is spelt `error_responses(409, s409="...")`)."""
    found: dict[int | str, dict[str, Any]] = {}
    # Every route reads PostgreSQL (the API key at least): 503 while it is unavailable.
    for status in sorted({*statuses, 503}):
        entry: dict[str, Any] = {
            "model": ErrorBody,
            "description": why.get(f"s{status}", describe(status)),
        }
        if status in _HEADERS:
            entry["headers"] = _HEADERS[status]
        found[status] = entry
    return found
