"""Gmail connection routes and the Email settings page (installed by `create_app`)."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the Gmail connection routes, the settings page and their middleware to `app`."""
