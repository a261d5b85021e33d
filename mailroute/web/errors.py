"""One error shape for every refusal: `{"error": {"code", "message", "fields": [...]}}`.

Each field entry names the field and the rule it broke.
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from mailroute.core.errors import BrokerUnavailableError
from mailroute.events import FieldProblem, InvalidEventError
from mailroute.services.intake import (
    ForbiddenCompanyError,
    IdempotencyConflictError,
    UnknownCompanyRequestError,
)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields = fields or []
        self.headers = headers


def error_body(code: str, message: str, fields: list[FieldProblem] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = [f.as_dict() for f in fields]
    return {"error": body}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.fields), exc.status, headers=exc.headers
        )

    @app.exception_handler(InvalidEventError)
    async def _invalid(_: Request, exc: InvalidEventError) -> JSONResponse:
        return JSONResponse(
            error_body("validation_failed", "the email request is invalid", exc.problems), 422
        )

    @app.exception_handler(UnknownCompanyRequestError)
    async def _unknown(_: Request, exc: UnknownCompanyRequestError) -> JSONResponse:
        fields = [FieldProblem(exc.field, exc.rule, str(exc))]
        return JSONResponse(error_body("unknown_company", str(exc), fields), 404)

    @app.exception_handler(ForbiddenCompanyError)
    async def _forbidden(_: Request, exc: ForbiddenCompanyError) -> JSONResponse:
        fields = [FieldProblem(exc.field, exc.rule, str(exc))]
        return JSONResponse(error_body("forbidden", str(exc), fields), 403)

    @app.exception_handler(IdempotencyConflictError)
    async def _conflict(_: Request, exc: IdempotencyConflictError) -> JSONResponse:
        fields = [FieldProblem(exc.field, exc.rule, str(exc))]
        return JSONResponse(error_body("idempotency_conflict", str(exc), fields), 409)

    @app.exception_handler(BrokerUnavailableError)
    async def _broker(_: Request, exc: BrokerUnavailableError) -> JSONResponse:
        return JSONResponse(
            error_body(
                "broker_unavailable",
                "the message broker is unavailable; nothing was accepted, retry later",
            ),
            503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _database(_: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL is down or failing over: whether a write committed is unknown, so the
        # client retries with the same event id (idempotent), never a 500.
        return JSONResponse(
            error_body(
                "database_unavailable",
                "the database is unavailable; retry later with the same event id",
            ),
            503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            FieldProblem(".".join(str(p) for p in e["loc"]), str(e["type"]), str(e["msg"]))
            for e in exc.errors()
        ]
        return JSONResponse(error_body("validation_failed", "the request is invalid", fields), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(f"http_{exc.status_code}", str(exc.detail)),
            exc.status_code,
            headers=getattr(exc, "headers", None),
        )
