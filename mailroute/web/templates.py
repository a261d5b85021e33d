"""The pages' Jinja templates and their filters ("3 minutes ago", timestamps)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.templating import Jinja2Templates

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def time_ago(value: datetime | None, now: datetime | None = None) -> str:
    """'just now', '3 minutes ago', '2 hours ago', '5 days ago'."""
    if value is None:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - value).total_seconds())
    if seconds < 45:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = max(1, round(seconds / size)) if unit == "minute" else seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def timestamp(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


TEMPLATES.env.filters["ago"] = time_ago
TEMPLATES.env.filters["timestamp"] = timestamp
