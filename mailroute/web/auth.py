"""Bearer API keys: one company and one role each."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mailroute.bootstrap import WebServices
from mailroute.core.records import Principal
from mailroute.events import FieldProblem
from mailroute.web.context import context
from mailroute.web.errors import ApiError

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="mailroute"'}


def principal(request: Request, ctx: Annotated[WebServices, Depends(context)]) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "unauthenticated",
            "send an API key as 'Authorization: Bearer <key>'",
            [FieldProblem("Authorization", "bearer_api_key", "missing or not a Bearer key")],
            headers=_CHALLENGE,
        )
    found = ctx.companies.authenticate(key.strip())
    if found is None:
        raise ApiError(
            401,
            "unauthenticated",
            "the API key is unknown or revoked",
            [FieldProblem("Authorization", "valid_api_key", "unknown or revoked key")],
            headers=_CHALLENGE,
        )
    return found


def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.role != "admin":
        raise ApiError(
            403,
            "forbidden",
            "this action needs an admin API key",
            [FieldProblem("Authorization", "admin_role", "the key's role is sender")],
        )
    return who


Caller = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
