"""What every event shares: the schema version, the error types, and field-level problems.

A problem names the field (`to[2]`, `attachments[0].content_base64`) and the rule it broke, so a
producer can fix its input without reading our code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from mailroute.events.text_rules import INVALID_UNICODE

CURRENT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class FieldProblem:
    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class InvalidEventError(ValueError):
    """The event breaks one or more rules; `problems` names each field and rule."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        listed = "; ".join(f"{p.field}: {p.message} ({p.rule})" for p in problems)
        super().__init__(f"invalid event: {listed}")


class UnreadableEventError(ValueError):
    """A message cannot be read as any known event: bad JSON, unknown type or schema version."""


def _field_name(loc: tuple[int | str, ...]) -> str:
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else part
    return name or "(event)"


_RULE_NAMES = {
    "missing": "required",
    "string_too_short": "not_empty",
    "too_short": "not_empty",
    "too_long": "max_items",
    "string_too_long": "max_length",
    "literal_error": "one_of",
    "string_type": "string",
    "list_type": "list",
    "int_parsing": "integer",
    "int_type": "integer",
    "int_from_float": "integer",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
    "recursion_loop": "max_depth",
    "uuid_parsing": "uuid",
    "uuid_type": "uuid",
    "model_type": "object",
    "model_attributes_type": "object",
    "dict_type": "object",
    "extra_forbidden": "unknown_field",
    "string_unicode": INVALID_UNICODE[0],
}
# Our own words where pydantic's would not help a producer.
_MESSAGES = {"string_unicode": INVALID_UNICODE[1]}


def field_problems(exc: ValidationError) -> list[FieldProblem]:
    """Translate pydantic's errors into field problems with stable rule names."""
    problems = []
    for error in exc.errors(include_url=False):
        loc: tuple[Any, ...] = tuple(error["loc"])
        # Validators on a model report the field they checked in ctx.
        ctx = error.get("ctx") or {}
        if "field" in ctx:
            loc = (*loc, *str(ctx["field"]).split("."))
        kind = str(error["type"])
        message = _MESSAGES.get(kind) or str(error["msg"]).removeprefix("Value error, ")
        problems.append(FieldProblem(_field_name(loc), _RULE_NAMES.get(kind, kind), message))
    return problems
