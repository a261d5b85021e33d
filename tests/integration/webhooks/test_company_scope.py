"""Every webhook call is scoped to the API key's company: another company's admin can neither
see nor touch an endpoint (404, as for an id that names nothing), and sender keys may not
manage webhooks at all."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from tests.integration.webhooks.conftest import Hooks


def test_another_companys_admin_key_cannot_see_or_touch_the_endpoint(
    make_hooks: Callable[[], Hooks],
) -> None:
    owner, other = make_hooks(), make_hooks()
    endpoint_id, _ = owner.register("http://127.0.0.1:9/hook")
    delivery = str(uuid.uuid4())
    headers = other.company.headers()
    api = other.api
    calls = [
        api.get(f"/v1/webhooks/{endpoint_id}", headers=headers),
        api.delete(f"/v1/webhooks/{endpoint_id}", headers=headers),
        api.post(f"/v1/webhooks/{endpoint_id}/rotate-secret", headers=headers),
        api.post(f"/v1/webhooks/{endpoint_id}/enable", headers=headers),
        api.get(f"/v1/webhooks/{endpoint_id}/deliveries", headers=headers),
        api.get(f"/v1/webhooks/{endpoint_id}/deliveries/{delivery}", headers=headers),
        api.post(f"/v1/webhooks/{endpoint_id}/deliveries/{delivery}/replay", headers=headers),
    ]

    for response in calls:
        assert response.status_code == 404, (response.request.url, response.text)
        [field] = response.json()["error"]["fields"]
        assert (field["field"], field["rule"]) == ("webhook_id", "known_webhook_id")
    assert other.get("")["webhooks"] == []
    assert [e["id"] for e in owner.get("")["webhooks"]] == [endpoint_id]


def test_an_id_not_in_canonical_form_names_nothing(hooks: Hooks) -> None:
    endpoint_id, _ = hooks.register("http://127.0.0.1:9/hook")
    response = hooks.api.get(f"/v1/webhooks/{endpoint_id.upper()}", headers=hooks.company.headers())
    assert response.status_code == 404
    assert response.json()["error"]["fields"][0]["rule"] == "uuid"


def test_a_sender_key_may_not_manage_webhooks(hooks: Hooks) -> None:
    response = hooks.api.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["email.sent"]},
        headers=hooks.company.headers("sender"),
    )
    assert response.status_code == 403
    assert response.json()["error"]["fields"][0]["rule"] == "admin_role"
    listed = hooks.api.get("/v1/webhooks", headers=hooks.company.headers("sender"))
    assert listed.status_code == 403
