"""The webhook API's examples in `/openapi.json` are what the API takes and answers: each model
reads its own example, and the registration example meets every rule but DNS."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from mailroute.config.settings import Settings
from mailroute.core.webhook_addresses import Target, parse_target
from mailroute.core.webhook_rules import description_problems, subscription_problems
from mailroute.web import webhook_models
from mailroute.web.app import create_app

MODELS = [
    webhook_models.WebhookCreate,
    webhook_models.SecretRotation,
    webhook_models.WebhookEndpointOut,
    webhook_models.WebhookCreated,
    webhook_models.WebhookDeleted,
    webhook_models.WebhookList,
    webhook_models.SecretRotated,
    webhook_models.AttemptOut,
    webhook_models.DeliveryOut,
    webhook_models.DeliveryList,
]


def _example(model: type[BaseModel]) -> Any:
    extra = model.model_config.get("json_schema_extra")
    assert isinstance(extra, dict)
    return extra["example"]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_each_model_reads_its_own_example(model: type[BaseModel]) -> None:
    model.model_validate(_example(model))


def test_the_registration_example_meets_the_rules() -> None:
    example = _example(webhook_models.WebhookCreate)
    assert subscription_problems(example["event_types"]) == []
    assert description_problems(example["description"]) == []
    assert isinstance(parse_target(example["url"]), Target)


def test_every_webhook_route_is_documented_with_its_models_and_refusals() -> None:
    document = create_app(Settings()).openapi()
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        if path.startswith("/v1/webhooks")
        for method, operation in item.items()
    ]
    assert len(operations) == 9
    for path, method, operation in operations:
        statuses = set(operation["responses"])
        assert {"401", "403", "422"} <= statuses, (method, path)
        if "{webhook_id}" in path:
            assert "404" in statuses, (method, path)
        success = [s for s in statuses if s.startswith("2")]
        assert len(success) == 1, (method, path)
        schema = operation["responses"][success[0]]["content"]["application/json"]["schema"]
        assert schema["$ref"].startswith("#/components/schemas/"), (method, path)
