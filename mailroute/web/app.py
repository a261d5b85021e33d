"""The app factory. `create_app(settings)` wires the context; nothing happens at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.emails import PostgresEmails
from mailroute.adapters.db.intake_outbox import PostgresIntakeOutbox
from mailroute.adapters.db.pool import make_pool
from mailroute.adapters.rabbitmq import DramatiqQueues
from mailroute.config.settings import Settings
from mailroute.services.intake import Intake
from mailroute.web import api, gmail, retry
from mailroute.web.context import WebContext
from mailroute.web.errors import install_error_handlers
from mailroute.web.metrics import install_metrics
from mailroute.workers.broker import build_broker


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = make_pool(settings)
        pool.open(wait=False)
        broker = build_broker(settings)
        companies = PostgresCompanies(pool)
        app.state.ctx = WebContext(
            settings=settings,
            pool=pool,
            broker=broker,
            companies=companies,
            emails=PostgresEmails(pool),
            intake=Intake(companies, DramatiqQueues(broker), settings.max_email_bytes),
            intake_outbox=PostgresIntakeOutbox(pool),
        )
        try:
            yield
        finally:
            await run_in_threadpool(broker.close)
            await run_in_threadpool(pool.close)

    app = FastAPI(
        title="mailroute",
        version="0.1.0",
        description="Send a company's email through its own Gmail or the default SMTP sender.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_metrics(app, lambda: app.state.ctx.pool)
    app.include_router(api.router)
    app.include_router(retry.router)
    gmail.install(app)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz() -> JSONResponse:
        """The database and the broker are reachable."""
        ctx: WebContext = app.state.ctx
        checks: dict[str, str] = {}
        try:
            with ctx.pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            checks["database"] = f"unavailable: {type(exc).__name__}"
        try:
            import pika

            params = pika.URLParameters(settings.rabbitmq_url)
            params.socket_timeout = 2
            params.connection_attempts = 1
            pika.BlockingConnection(params).close()
            checks["broker"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["broker"] = f"unavailable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks}, 200 if ready else 503
        )

    return app
