"""The FastAPI app: REST API, OAuth, the settings page, health and metrics. As thin as actors."""
