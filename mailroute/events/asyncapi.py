"""The AsyncAPI 3.0 document of mailroute's AMQP side: the `dispatch` queue a producer publishes
`EmailRequested` to (in dramatiq's message envelope) and the outcome events on the topic exchange.
Pure: returns dicts; `scripts/write_schemas.py` writes them under `schemas/` beside the event
schemas of `mailroute.events.schemas`.
"""

from __future__ import annotations

from pydantic import BaseModel

from mailroute.events import queues
from mailroute.events.base import CURRENT_SCHEMA_VERSION
from mailroute.events.schemas import (
    CORRELATION_ID_PATTERN,
    DRAFT,
    EXCHANGE,
    OUTCOMES,
    Schema,
    event_schemas,
    schema_id,
    schema_path,
)

ENVELOPE_PATH = "envelopes/dispatch_email.v1.json"
BATCH_ENVELOPE_PATH = "envelopes/dispatch_emails.v1.json"
_AMQP = {"bindingVersion": "0.3.0"}


def dispatch_envelope() -> Schema:
    """The body of a message on the `dispatch` queue: dramatiq's message, one EmailRequested."""
    return _envelope(
        queues.DISPATCH_EMAIL,
        {"minItems": 1, "maxItems": 1, "prefixItems": [{"$ref": schema_id("EmailRequested")}]},
        "The JSON body a producer publishes on the dispatch queue: a dramatiq message whose one"
        " argument is an EmailRequested. Keep it under 128 KiB; send larger emails over HTTP"
        " (POST /v1/emails).",
    )


def dispatch_batch_envelope() -> Schema:
    """The body of a batch message on the `dispatch` queue: one argument, a list of events."""
    events = {
        "type": "array",
        "minItems": 1,
        "maxItems": queues.BATCH_LIMIT,
        "items": {"$ref": schema_id("EmailRequested")},
    }
    return _envelope(
        queues.DISPATCH_EMAILS,
        {"minItems": 1, "maxItems": 1, "prefixItems": [events]},
        "The JSON body of a batch on the dispatch queue: a dramatiq message whose one argument"
        f" is a list of 1 to {queues.BATCH_LIMIT} EmailRequested events (a month-end run), each"
        " read, stored and answered on its own: one that breaks a rule is recorded in"
        " rejected_messages and the others are sent. Keep the message under 128 KiB.",
    )


def _envelope(actor: str, args: Schema, description: str) -> Schema:
    name = actor.removeprefix("mailroute.")
    return {
        "$schema": DRAFT,
        "$id": f"urn:mailroute:schema:envelopes:{name}:v1",
        "title": f"{name} message v1",
        "description": description,
        "type": "object",
        "required": [
            "queue_name",
            "actor_name",
            "args",
            "kwargs",
            "options",
            "message_id",
            "message_timestamp",
        ],
        "properties": {
            "queue_name": {"const": queues.DISPATCH},
            "actor_name": {"const": actor},
            "args": {"type": "array", **args},
            "kwargs": {"type": "object", "maxProperties": 0},
            "options": {
                "type": "object",
                "description": "dramatiq's options; leave empty, or give a correlation_id",
                "properties": {
                    "correlation_id": {"type": "string", "pattern": CORRELATION_ID_PATTERN}
                },
            },
            "message_id": {
                "type": "string",
                "format": "uuid",
                "description": "a new UUID per message (names it in rejected_messages)",
            },
            "message_timestamp": {
                "type": "integer",
                "minimum": 0,
                "description": "when it was published, ms since the epoch",
            },
        },
    }


def _queue_channel() -> Schema:
    queue = {
        "name": queues.DISPATCH,
        "durable": True,
        "exclusive": False,
        "autoDelete": False,
        "vhost": "/",
    }
    return {
        "address": queues.DISPATCH,
        "title": "the dispatch queue",
        "description": "Durable, declared by mailroute's workers (a quorum queue by default,"
        f" dead-lettering to {queues.DISPATCH}.XQ; its arguments depend on the deployment's"
        " RABBITMQ_QUEUE_TYPE): declare it passively, or not at all. Publish to the default"
        " exchange ('') with this queue's name as the routing key, mandatory, with confirms.",
        "messages": {
            "EmailRequested": {"$ref": "#/components/messages/EmailRequested"},
            "EmailRequestedBatch": {"$ref": "#/components/messages/EmailRequestedBatch"},
        },
        "bindings": {"amqp": {"is": "queue", "queue": queue, **_AMQP}},
    }


def _outcome_channel(model: type[BaseModel], key: str) -> Schema:
    name = str(getattr(model, "type_name"))  # noqa: B009
    exchange = {
        "name": EXCHANGE,
        "type": "topic",
        "durable": True,
        "autoDelete": False,
        "vhost": "/",
    }
    return {
        "address": key,
        "title": f"routing key {key}",
        "description": f"{name} events on the topic exchange {EXCHANGE}: bind a durable queue"
        f" of your own with the binding key {key} (or connection.* / email.* / #).",
        "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        "bindings": {"amqp": {"is": "routingKey", "exchange": exchange, **_AMQP}},
    }


def _message(name: str, payload_ref: str, properties: dict[str, str], summary: str) -> Schema:
    return {
        "name": name,
        "title": name,
        "summary": summary,
        "contentType": "application/json",
        "payload": {"$ref": payload_ref},
        "correlationId": {"location": "$message.header#/correlation_id"},
        "x-amqp-properties": properties,
        "bindings": {"amqp": {"messageType": name, **_AMQP}},
    }


def asyncapi_document() -> Schema:
    """The AsyncAPI 3.0 document of mailroute's AMQP side, its payloads `$ref`s to the files."""
    channels: Schema = {"dispatch": _queue_channel()}
    messages: Schema = {
        "EmailRequested": _message(
            "EmailRequested",
            f"./{ENVELOPE_PATH}",
            {
                "delivery_mode": "2 (persistent): required",
                "content_type": "application/json (optional; dramatiq does not read it)",
            },
            "A producer asks for one email: dramatiq's message envelope around the event."
            " Publish with publisher confirms and mandatory=true; confirmed means accepted.",
        ),
        "EmailRequestedBatch": _message(
            "EmailRequestedBatch",
            f"./{BATCH_ENVELOPE_PATH}",
            {
                "delivery_mode": "2 (persistent): required",
                "content_type": "application/json (optional; dramatiq does not read it)",
            },
            f"A producer asks for up to {queues.BATCH_LIMIT} emails in one message: one"
            " confirm for all of them. Confirmed means each readable event is accepted.",
        ),
    }
    operations: Schema = {
        "receiveEmailRequested": {
            "action": "receive",
            "channel": {"$ref": "#/channels/dispatch"},
            "messages": [
                {"$ref": "#/channels/dispatch/messages/EmailRequested"},
                {"$ref": "#/channels/dispatch/messages/EmailRequestedBatch"},
            ],
            "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, **_AMQP}},
        }
    }
    for model, key in OUTCOMES.items():
        name = str(getattr(model, "type_name"))  # noqa: B009
        channels[key] = _outcome_channel(model, key)
        messages[name] = _message(
            name,
            f"./{schema_path(name)}",
            {
                "delivery_mode": "2 (persistent)",
                "content_type": "application/json",
                "message_id": "outbox-<n>: the same on every redelivery of one event",
                "correlation_id": "the email's (or the check's) correlation id",
            },
            f"{name}, published once it is committed (at least once).",
        )
        operations[f"send{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{name}"}],
            "bindings": {"amqp": {"deliveryMode": 2, **_AMQP}},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "mailroute",
            "version": f"{CURRENT_SCHEMA_VERSION}.0.0",
            "description": "What a producer in any language publishes to have an email sent,"
            " and the outcome events it gets back. Payloads are JSON Schema draft 2020-12.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "RABBITMQ_URL of your deployment",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def documents() -> dict[str, Schema]:
    """Every committed document by its path under `schemas/`."""
    return {
        **event_schemas(),
        ENVELOPE_PATH: dispatch_envelope(),
        BATCH_ENVELOPE_PATH: dispatch_batch_envelope(),
        "asyncapi.json": asyncapi_document(),
    }
