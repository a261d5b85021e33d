"""`/openapi.json` documents every route of the JSON API: its request and response models, every
status it can answer with the one error body, the API key it needs, and examples the server
accepts (schemathesis sends them: tests/integration/contracts/test_openapi_fuzz.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from mailroute.config.settings import Settings
from mailroute.core.webhook_signing import body
from mailroute.events import EmailRequested
from mailroute.web.app import create_app

ERROR = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    result: dict[str, Any] = create_app(Settings()).openapi()
    return result


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_components_list_the_request_response_and_error_models(document: dict[str, Any]) -> None:
    names = set(document["components"]["schemas"])
    assert {"EmailRequest", "Attachment", "ErrorBody", "ErrorDetail", "FieldRefusal"} <= names
    assert {"EmailAccepted", "EmailView", "EmailQueued", "EmailSettingsView"} <= names
    assert {"AuthorizeRequest", "AuthorizationStarted", "RevokeResult", "VerifyResult"} <= names


def test_every_refusal_is_documented_with_the_one_error_body(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and path != "/readyz":
                schema = response["content"]["application/json"]["schema"]
                assert schema == ERROR, (method, path, status)


def test_every_answer_has_a_schema(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            schema = response["content"]["application/json"]["schema"]
            assert schema.get("$ref"), (method, path, status, schema)


def test_every_api_route_needs_an_api_key_and_says_what_it_answers_without_one(
    document: dict[str, Any],
) -> None:
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    for path, method, operation in _operations(document):
        if path.startswith("/v1/"):
            assert operation["security"] == [{"apiKey": []}], (method, path)
            assert "401" in operation["responses"], (method, path)


def test_the_email_request_example_is_a_valid_request(document: dict[str, Any]) -> None:
    body = document["paths"]["/v1/emails"]["post"]["requestBody"]["content"]["application/json"]
    example = body["example"]
    schemas = document["components"]["schemas"]
    resolver_root = {"components": {"schemas": schemas}, **schemas["EmailRequest"]}
    jsonschema.Draft202012Validator(resolver_root).validate(example)
    company = "7d2c4f0e-1b3a-4c5d-8e9f-0a1b2c3d4e5f"
    EmailRequested.parse({**example, "company_id": company})  # every rule, not only the schema's


def test_post_emails_documents_replays_and_conflicts(document: dict[str, Any]) -> None:
    operation = document["paths"]["/v1/emails"]["post"]
    assert {"202", "400", "401", "403", "404", "409", "413", "415", "422"} <= set(
        operation["responses"]
    )
    accepted = operation["responses"]["202"]
    assert {"Location", "Idempotent-Replayed"} <= set(accepted["headers"])
    assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]


def test_webhooks_document_what_an_endpoint_receives_for_each_event(
    document: dict[str, Any],
) -> None:
    assert set(document["webhooks"]) == {
        "email.sent",
        "email.failed",
        "connection.auth_broken",
        "connection.changed",
    }
    sent = document["webhooks"]["email.sent"]["post"]
    headers = [p["name"] for p in sent["parameters"]]
    assert headers == ["webhook-id", "webhook-timestamp", "webhook-signature"]
    envelope = sent["requestBody"]["content"]["application/json"]["schema"]
    data = {
        "type": "EmailSent",
        "schema_version": 1,
        "email_id": "3f1c2b9e-8a4d-5e6f-9a0b-1c2d3e4f5a6b",
        "event_id": "invoice-2026-0042-sent",
        "company_id": "7d2c4f0e-1b3a-4c5d-8e9f-0a1b2c3d4e5f",
        "route": "gmail",
        "from_address": "billing@acme.example",
        "message_id": "<3f1c2b9e.8a4d@acme.example>",
        "provider_message_id": None,
        "possible_duplicate": False,
        "sent_at": "2026-12-01T09:00:01+00:00",
        "correlation_id": None,
        "submitted_only": False,
    }
    delivered = json.loads(body("email.sent", datetime.now(UTC), data))
    root = {"components": document["components"], **envelope}
    jsonschema.Draft202012Validator(root).validate(delivered)
