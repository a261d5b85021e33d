"""Reading JSON from a door: the one nesting limit, and `json.loads` that never overflows.

An email request is at most three levels deep (`attachments[0].filename`); producers may add keys
of their own (a tolerant reader ignores them), so the limit leaves room. Deeper JSON is refused
before any field is looked at: Python's parser raises `RecursionError` (not `ValueError`) on very
deep input, and every recursive walk after it would too.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32


class TooDeepError(ValueError):
    """The JSON nests deeper than `MAX_DEPTH`; `field` is the top-level key that does."""

    rule = "max_depth"

    def __init__(self, field: str = "") -> None:
        self.field = field
        super().__init__(f"nested deeper than {MAX_DEPTH} levels")


def loads(raw: str | bytes) -> Any:
    """Parse JSON; raises `TooDeepError` when it nests too deep, `ValueError` when it is not JSON
    (or not UTF-8)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise TooDeepError() from None
    check_depth(value)
    return value


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Raise `TooDeepError` when `value` (dicts and lists) nests deeper than `limit`; iterative,
    so any depth is measured without recursion."""
    containers = (dict, list, tuple)
    stack: list[tuple[Any, int, str]] = [(value, 1, "")] if isinstance(value, containers) else []
    while stack:
        item, depth, top = stack.pop()
        if depth > limit:
            raise TooDeepError(top)
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(child, containers):
                    stack.append((child, depth + 1, str(key) if depth == 1 else top))
        else:
            stack.extend((child, depth + 1, top) for child in item if isinstance(child, containers))
