"""The API docs at `/docs` (Swagger UI) under a Content-Security-Policy without inline script:
the page loads Swagger UI from its CDN and starts it from /static/docs.js, where FastAPI's own
page would start it from an inline script."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from mailroute.web.templates import TEMPLATES

SWAGGER_UI = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
# Swagger UI sets inline styles on its elements; scripts stay this origin's and the CDN's.
DOCS_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' https://cdn.jsdelivr.net",
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "img-src 'self' data: https://fastapi.tiangolo.com",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def install_docs(app: FastAPI) -> None:
    """`/docs`; create the app with `docs_url=None` so FastAPI's inline-script page is off."""

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(
            request,
            "docs.html",
            {"title": app.title, "swagger_ui": SWAGGER_UI, "openapi_url": app.openapi_url},
            headers={"Content-Security-Policy": DOCS_POLICY},
        )
