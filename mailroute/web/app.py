"""The app factory. `create_app(settings)` wires routes and middleware; the services are built
by `bootstrap.build_web` when the app starts, never at import.

Middleware, outermost first: security headers (so every refusal carries them), the Host check,
the body limit (before authentication and parsing), correlation ids, server-side sessions, the
request metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from mailroute.bootstrap import WebServices, build_web
from mailroute.config.settings import Settings
from mailroute.web import api, gmail, microsoft, reauthorize, retry, risc, webhooks
from mailroute.web.allowed_hosts import AllowedHosts
from mailroute.web.body_limit import BodyLimit
from mailroute.web.browser_session import install_sessions
from mailroute.web.correlation import install_correlation_ids
from mailroute.web.docs import install_docs
from mailroute.web.email_models import Health, Readiness
from mailroute.web.errors import install_error_handlers
from mailroute.web.metrics import install_metrics
from mailroute.web.openapi import install_openapi
from mailroute.web.security_headers import SecurityHeaders


def install_guards(app: FastAPI, settings: Settings) -> None:
    """The outermost middleware (the last added runs first)."""
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(AllowedHosts, settings=settings)
    app.add_middleware(SecurityHeaders, settings=settings)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ctx = await run_in_threadpool(build_web, settings)
        try:
            yield
        finally:
            await run_in_threadpool(app.state.ctx.close)

    app = FastAPI(
        title="mailroute",
        version="0.1.0",
        description="Send a company's email through its own mailbox (Gmail, Microsoft 365) or"
        " the default SMTP sender.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_metrics(app, settings, lambda: app.state.ctx.pool)
    install_sessions(app, settings)
    install_correlation_ids(app)
    install_guards(app, settings)
    install_docs(app)
    install_openapi(app)
    app.include_router(api.router)
    app.include_router(retry.router)
    app.include_router(webhooks.router)
    gmail.install(app)
    microsoft.install(app)
    risc.install(app)
    reauthorize.install(app)

    @app.get("/healthz", tags=["ops"], response_model=Health)
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["ops"],
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Not ready: `checks` says why."}},
    )
    def readyz() -> JSONResponse:
        """The database and the broker are reachable."""
        ctx: WebServices = app.state.ctx
        checks = ctx.readiness()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks}, 200 if ready else 503
        )

    return app
