"""The sandbox FastAPI app: Google's OAuth and Gmail routes plus the /_sandbox/ controls."""

from __future__ import annotations

from typing import cast

from fastapi import FastAPI, Request

from mailroute_sandbox.state import SandboxState


def state_of(request: Request) -> SandboxState:
    """The `SandboxState` the app was built with."""
    return cast(SandboxState, request.app.state.sandbox)


def create_app(state: SandboxState) -> FastAPI:
    """Build the app around `state`; nothing is started here."""
    from mailroute_sandbox import consent, controls, gmail, oauth, risc, risc_controls, uploads
    from mailroute_sandbox.microsoft import controls as microsoft_controls

    app = FastAPI(
        title="mailroute sandbox (fake Google)",
        docs_url="/_sandbox/docs",
        redoc_url=None,
        openapi_url="/_sandbox/openapi.json",
    )
    app.state.sandbox = state
    app.state.risc = risc.RiscTransmitter(state.client_id)
    app.include_router(consent.router)
    app.include_router(oauth.router)
    app.include_router(gmail.router)
    app.include_router(uploads.router)
    app.include_router(controls.router)
    app.include_router(microsoft_controls.router)
    app.include_router(risc.router)
    app.include_router(risc_controls.router)
    return app
