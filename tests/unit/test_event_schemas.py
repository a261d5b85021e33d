"""The committed contracts under schemas/ are the code's: regenerated in memory they are equal,
events validate against them, and the AsyncAPI document's references all resolve to files."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from mailroute.events import (
    AuthBroken,
    EmailFailed,
    EmailRequested,
    EmailSent,
    GmailConnectionChanged,
    queues,
)
from mailroute.events.asyncapi import documents
from mailroute.events.schemas import MODELS, event_schema, event_schemas, schema_path

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
COMPANY = "7d2c4f0e-1b3a-4c5d-8e9f-0a1b2c3d4e5f"
NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def committed(path: str) -> Any:
    return json.loads((SCHEMAS / path).read_text(encoding="utf-8"))


def drifted(generated: dict[str, Any]) -> list[str]:
    """The paths whose committed file is missing or differs from the generated document."""
    return [p for p, doc in generated.items() if not (SCHEMAS / p).is_file() or committed(p) != doc]


def validator(path: str) -> Draft202012Validator:
    files = [p for p in SCHEMAS.rglob("*.json") if p.name != "asyncapi.json"]
    resources = [Resource.from_contents(json.loads(p.read_text(encoding="utf-8"))) for p in files]
    registry: Registry[Any] = Registry().with_resources(
        (str(r.id()), r) for r in resources if r.id()
    )
    schema = committed(path)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(
        schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def readme_request(**changes: Any) -> dict[str, Any]:
    event = {
        "event_id": "invoice-2026-0042-sent",
        "company_id": COMPANY,
        "kind": "invoice",
        "sender": "auto",
        "to": ["Jane Doe <jane@example.com>"],
        "cc": [],
        "bcc": [],
        "reply_to": "accounts@acme.example",
        "subject": "Invoice 2026-0042 from Acme",
        "text": "Hello Jane, …",
        "html": "<p>Hello Jane, …</p>",
        "attachments": [
            {
                "filename": "invoice-2026-0042.pdf",
                "content_type": "application/pdf",
                "content_base64": "JVBERi0xLjQK",
            }
        ],
    }
    return {**event, **changes}


def test_the_committed_files_are_the_generated_documents_and_nothing_else() -> None:
    generated = documents()
    assert drifted(generated) == [], "run: .venv/bin/python scripts/write_schemas.py"
    on_disk = {str(p.relative_to(SCHEMAS)) for p in SCHEMAS.rglob("*") if p.is_file()}
    assert on_disk == set(generated)


def test_every_event_has_one_schema_per_version() -> None:
    assert set(event_schemas()) == {schema_path(m.type_name) for m in MODELS}  # type: ignore[attr-defined]
    assert {m.__name__ for m in MODELS} == {
        "EmailRequested", "EmailSent", "EmailFailed", "AuthBroken", "GmailConnectionChanged"
    }  # fmt: skip


@pytest.mark.parametrize("base", MODELS, ids=lambda m: m.__name__)
def test_a_field_added_without_regenerating_is_caught(base: type[Any]) -> None:
    grown = type(base.__name__, (base,), {"__annotations__": {"added": str | None}, "added": None})
    generated = {**documents(), **event_schemas((grown,))}
    assert drifted(generated) == [schema_path(base.type_name)]
    assert "added" in event_schema(grown)["properties"]


def test_the_readme_request_validates_and_so_does_mailroute_s_reading_of_it() -> None:
    event = readme_request()
    validator(schema_path("EmailRequested")).validate(event)
    EmailRequested.parse(event)
    validator(schema_path("EmailRequested")).validate(EmailRequested.parse(event).to_wire())


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"to": [], "cc": [], "bcc": []}, "recipient"),
        ({"to": ["x@example.com"] * 101}, "too long"),
        ({"text": None, "html": None}, "body"),
        ({"subject": "Invoice\r\nBcc: all@example.com"}, "does not match"),
        ({"company_id": COMPANY.upper()}, "does not match"),
        ({"kind": "spam"}, "is not one of"),
        ({"schema_version": 2}, "was expected"),
        ({"type": "EmailSent"}, "was expected"),
        ({"attachments": [{"filename": "a.pdf", "content_type": "pdf", "content_base64": ""}]},
         "does not match"),
    ],
)  # fmt: skip
def test_requests_mailroute_refuses_for_a_rule_the_schema_states_are_refused_by_it(
    changes: dict[str, Any], why: str
) -> None:
    with pytest.raises(ValidationError, match=why):
        validator(schema_path("EmailRequested")).validate(readme_request(**changes))


def outcomes() -> list[Any]:
    ids = {"email_id": str(uuid.uuid4()), "event_id": "inv-42", "company_id": COMPANY}
    connection = {"connection_id": str(uuid.uuid4()), "company_id": COMPANY, "generation": 3}
    return [
        EmailSent(**ids, route="gmail", from_address="a@acme.example",
                  message_id="<m@acme.example>", sent_at=NOW, correlation_id="c-1"),
        EmailFailed(**ids, error_code="gmail_auth_broken", error_message="revoked", failed_at=NOW),
        EmailFailed(**ids, route="default", from_address="no-reply@mailroute.example",
                    error_code="smtp_refused", error_message="550", failed_at=NOW),
        AuthBroken(**connection, reason="invalid_grant", broken_at=NOW, address="a@acme.example"),
        GmailConnectionChanged(**connection, state="active", changed_at=NOW),
    ]  # fmt: skip


@pytest.mark.parametrize("event", outcomes(), ids=lambda e: e.type_name)
def test_each_outcome_event_on_the_wire_validates_against_its_committed_schema(event: Any) -> None:
    validator(schema_path(event.type_name)).validate(event.to_wire())


def test_a_raw_dispatch_message_as_a_producer_publishes_it_validates() -> None:
    body = {
        "queue_name": queues.DISPATCH,
        "actor_name": queues.DISPATCH_EMAIL,
        "args": [readme_request()],
        "kwargs": {},
        "options": {},
        "message_id": str(uuid.uuid4()),
        "message_timestamp": 1767605400000,
    }
    check = validator("envelopes/dispatch_email.v1.json")
    check.validate(body)
    with pytest.raises(ValidationError, match="recipient"):
        check.validate({**body, "args": [readme_request(to=[])]})


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def pointer(document: Any, fragment: str) -> Any:
    for part in fragment.lstrip("/").split("/"):
        document = document[part.replace("~1", "/").replace("~0", "~")]
    return document


def test_every_reference_of_the_asyncapi_document_resolves_to_a_committed_file() -> None:
    document = committed("asyncapi.json")
    found = refs(document)
    assert found
    for ref in found:
        path, _, fragment = ref.partition("#")
        target = committed(path.removeprefix("./")) if path else document
        assert pointer(target, fragment) if fragment else target, ref


CHANNEL_FIELDS = {
    "address", "messages", "title", "summary", "description",
    "servers", "parameters", "tags", "externalDocs", "bindings",
}  # fmt: skip


def test_the_asyncapi_document_has_the_structure_asyncapi_3_requires() -> None:
    document = committed("asyncapi.json")
    assert document["asyncapi"] == "3.0.0"
    assert {"title", "version"} <= set(document["info"])
    for server in document["servers"].values():
        assert {"host", "protocol"} <= set(server)
    for channel in document["channels"].values():
        assert set(channel) <= CHANNEL_FIELDS
    for name, operation in document["operations"].items():
        assert operation["action"] in {"send", "receive"}, name
        assert operation["channel"]["$ref"].startswith("#/channels/")
        channel = operation["channel"]["$ref"].removeprefix("#/channels/")
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"#/channels/{channel}/messages/"), name


def test_the_asyncapi_document_names_the_queue_the_exchange_and_its_routing_keys() -> None:
    document = committed("asyncapi.json")
    channels = document["channels"]
    assert channels["dispatch"]["bindings"]["amqp"]["queue"]["durable"] is True
    keys = {"email.sent", "email.failed", "connection.auth_broken", "connection.changed"}
    assert keys <= set(channels)
    for key in keys:
        exchange = channels[key]["bindings"]["amqp"]["exchange"]
        assert (exchange["name"], exchange["type"], exchange["durable"]) == (
            "mailroute.events", "topic", True
        )  # fmt: skip
