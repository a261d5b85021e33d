"""The FastAPI app of the Microsoft TLS listener: identity platform and Graph routes, sharing
the one `SandboxState` with the plain listener (whose `/_sandbox/microsoft/` controls steer it).
"""

from __future__ import annotations

from fastapi import FastAPI

from mailroute_sandbox.state import SandboxState


def create_microsoft_app(state: SandboxState) -> FastAPI:
    """Build the app around `state`; nothing is started here."""
    from mailroute_sandbox.microsoft import graph, identity, token, upload

    app = FastAPI(title="mailroute sandbox (fake Microsoft)", docs_url=None, redoc_url=None)
    app.state.sandbox = state
    app.include_router(identity.router)
    app.include_router(token.router)
    app.include_router(graph.router)
    app.include_router(upload.router)
    return app
