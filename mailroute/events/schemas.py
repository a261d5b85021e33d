"""The event contracts as documents: a JSON Schema (draft 2020-12) per event and schema version,
and the AsyncAPI 3.0 document of the queue and exchange they travel on.

Generated from the pydantic models and adjusted to describe the wire: `type` and
`schema_version` as constants, the limits the validators enforce that JSON Schema can state
(lengths, list sizes, enums, patterns), and the rest said in `description`. Pure: each function
returns dicts; `scripts/write_schemas.py` writes them under `schemas/`, and a unit test fails
when the committed files drift from these.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from mailroute.events.base import CURRENT_SCHEMA_VERSION
from mailroute.events.email import (
    AuthBroken,
    EmailFailed,
    EmailRequested,
    EmailSent,
    GmailConnectionChanged,
)
from mailroute.events.email_fields import MAX_ATTACHMENTS, MAX_RECIPIENTS

Schema = dict[str, Any]
DRAFT = "https://json-schema.org/draft/2020-12/schema"
EXCHANGE = "mailroute.events"  # the default of the EVENTS_EXCHANGE setting
OUTCOMES: dict[type[BaseModel], str] = {
    EmailSent: "email.sent",
    EmailFailed: "email.failed",
    AuthBroken: "connection.auth_broken",
    GmailConnectionChanged: "connection.changed",
}
MODELS: tuple[type[BaseModel], ...] = (EmailRequested, *OUTCOMES)

# The text rules of text_rules.py that a pattern states exactly: no control character but tab
# (and CR, LF in bodies), no line separator in a header field, no bidi control in a file name.
_HEADER = "^[^\\u0000-\\u0008\\u000a-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$"
_FILENAME = _HEADER.replace("]", "\\u202a-\\u202e\\u2066-\\u2069]")
_BODY = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
_UUID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
CORRELATION_ID_PATTERN = "^[A-Za-z0-9._:-]{1,100}$"
_MIME_TYPE = "^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$"

_REQUESTED_RULES = (
    "Rules this schema cannot state, which mailroute checks too (each refusal names the field"
    " and the rule): every address in to, cc, bcc and reply_to is exactly one valid ASCII email"
    " address, optionally with a display name (email_address, one_address, ascii_address) that"
    f" holds no bidi control (bidi_control); at most {MAX_RECIPIENTS} recipients in to, cc and"
    " bcc together (max_recipients); the subject is not blank (not_empty); the text or the html"
    " body is not blank (body_required); every text is valid Unicode, no lone surrogates"
    " (invalid_unicode); each attachment is valid base64 (base64), its filename a name and not"
    " a path (filename), and neither its filename, content type nor content a type Gmail refuses"
    " to send (blocked_file_type); the email is at most MAX_EMAIL_BYTES (25 MB) in all"
    " (max_size); JSON nested at most 32 levels (max_depth). Unknown keys are ignored. Send"
    " schema_version as a JSON integer (1, not 1.0)."
)
_OUTCOME_RULES = (
    "Published by mailroute on the topic exchange {exchange} with routing key {key}. Every"
    " property is present (optional ones as null). A reader should ignore unknown keys: a later"
    " mailroute may add some within the same schema_version. Delivered at least once: de-duplicate"
    " on {dedupe}."
)


def schema_path(name: str, version: int = CURRENT_SCHEMA_VERSION) -> str:
    return f"events/{name}.v{version}.json"


def schema_id(name: str, version: int = CURRENT_SCHEMA_VERSION) -> str:
    return f"urn:mailroute:schema:events:{name}:v{version}"


def _string(prop: Schema) -> Schema:
    """The string branch of a property (`str | None` is an anyOf of string and null)."""
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") == "string":
            return dict(branch) if branch is prop else branch
    raise ValueError(f"no string in {prop}")


def _constrain(prop: Schema, **rules: Any) -> None:
    target = prop if prop.get("type") == "string" else _string(prop)
    target.update(rules)


def _wire_header(schema: Schema, name: str, required: bool) -> None:
    props = schema["properties"]
    props.pop("schema_version", None)
    head = {
        "type": {"const": name, "description": "the event's type"},
        "schema_version": {
            "type": "integer",
            "const": CURRENT_SCHEMA_VERSION,
            "description": "the version of this event's schema",
            **({} if required else {"default": CURRENT_SCHEMA_VERSION}),
        },
    }
    schema["properties"] = {**head, **props}


def _requested(schema: Schema) -> None:
    props = schema["properties"]
    for field in ("event_id", "subject"):
        _constrain(props[field], pattern=_HEADER)
    _constrain(props["company_id"], pattern=_UUID)
    _constrain(props["correlation_id"], pattern=CORRELATION_ID_PATTERN)
    for field in ("to", "cc", "bcc"):
        props[field]["maxItems"] = MAX_RECIPIENTS
        _constrain(props[field]["items"], pattern=_HEADER)
    _constrain(props["reply_to"], pattern=_HEADER)
    for field in ("text", "html"):
        _constrain(props[field], pattern=_BODY)
    props["attachments"]["maxItems"] = MAX_ATTACHMENTS
    attachment = schema["$defs"]["Attachment"]
    attachment["description"] = "One file; unknown keys are ignored."
    inner = attachment["properties"]
    _constrain(inner["filename"], pattern=_FILENAME)
    _constrain(inner["content_type"], pattern=_MIME_TYPE)
    _constrain(inner["content_base64"], contentEncoding="base64")
    schema["allOf"] = [
        {
            "description": "at least one recipient in to, cc or bcc (recipient_required)",
            "anyOf": [
                {"required": [f], "properties": {f: {"type": "array", "minItems": 1}}}
                for f in ("to", "cc", "bcc")
            ],
        },
        {
            "description": "a text or an html body (body_required)",
            "anyOf": [
                {"required": [f], "properties": {f: {"type": "string", "minLength": 1}}}
                for f in ("text", "html")
            ],
        },
    ]
    schema["description"] = f"{EmailRequested.__doc__} {_REQUESTED_RULES}"


def event_schema(model: type[BaseModel], version: int = CURRENT_SCHEMA_VERSION) -> Schema:
    """The JSON Schema of one event model, as it is on the wire."""
    name = str(getattr(model, "type_name"))  # noqa: B009 (a ClassVar of every event)
    outcome = model is not EmailRequested and not issubclass(model, EmailRequested)
    generated = model.model_json_schema(mode="serialization" if outcome else "validation")
    schema: Schema = {
        "$schema": DRAFT,
        "$id": schema_id(name, version),
        "title": f"{name} v{version}",
        **copy.deepcopy(generated),
    }
    schema["title"] = f"{name} v{version}"
    _wire_header(schema, name, required=outcome)
    if outcome:
        schema["required"] = list(schema["properties"])
        dedupe = (
            "email_id" if "email_id" in schema["properties"] else "connection_id and generation"
        )
        key = next(k for m, k in OUTCOMES.items() if issubclass(model, m))
        summary = (model.__doc__ or "").strip() + " " if model.__doc__ else ""
        schema["description"] = summary + _OUTCOME_RULES.format(
            exchange=EXCHANGE, key=key, dedupe=dedupe
        )
    else:
        _requested(schema)
    return schema


def event_schemas(models: tuple[type[BaseModel], ...] = MODELS) -> dict[str, Schema]:
    """Every event's schema by its path under `schemas/` (one per event and version)."""
    return {schema_path(str(getattr(m, "type_name"))): event_schema(m) for m in models}  # noqa: B009
