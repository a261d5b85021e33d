"""What the web app's routes share: the services `bootstrap.build_web` built at startup."""

from __future__ import annotations

from fastapi import Request

from mailroute.bootstrap import WebServices


def context(request: Request) -> WebServices:
    ctx: WebServices = request.app.state.ctx
    return ctx
