"""Webhooks go to public hosts only. Registering one that is, or resolves to, a private,
loopback, link-local or otherwise internal address is refused with 422 naming `url` and the
rule, unless the operator allowed its network; and the check runs again before every attempt,
so an endpoint whose host later leads inside is never requested."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TestCompany
from tests.integration.webhooks.conftest import Hooks, endpoint_sql
from tests.integration.webhooks.receiver import receiving
from tests.private_stack import PrivateStack


@pytest.fixture(scope="module")
def strict_web(hooks_stack: PrivateStack) -> httpx.Client:
    """A web process of the same stack with no private network allowed (the default); it
    stops with the stack."""
    return hooks_stack.web(WEBHOOK_ALLOWED_PRIVATE_NETWORKS="")


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("https://10.0.0.5/hook", "private_address"),
        ("https://192.168.1.20/hook", "private_address"),
        ("https://[fd00::5]/hook", "private_address"),
        ("https://127.0.0.1/", "loopback_address"),
        ("https://[::1]/", "loopback_address"),
        ("https://localhost/", "loopback_address"),
        ("http://127.0.0.1:8080/hook", "loopback_address"),
        ("https://169.254.169.254/latest/meta-data/", "link_local_address"),
        ("https://[::ffff:127.0.0.1]/", "loopback_address"),
        ("https://100.64.0.1/", "cgnat_address"),
        ("https://0.0.0.0/", "unspecified_address"),
        ("https://2130706433/", "loopback_address"),  # 127.0.0.1 written as one number
        ("http://93.184.216.34/hook", "https_required"),
        ("https://admin:hunter2@93.184.216.34/hook", "no_credentials"),
        ("https://no-such-host.invalid/hook", "resolvable_host"),
    ],
)
def test_an_endpoint_that_leads_inside_is_refused_naming_url_and_the_rule(
    strict_web: httpx.Client, hooks_stack: PrivateStack, url: str, rule: str
) -> None:
    company: TestCompany = hooks_stack.company()
    response = strict_web.post(
        "/v1/webhooks", json={"url": url, "event_types": ["email.sent"]}, headers=company.headers()
    )
    assert response.status_code == 422, response.text
    [field] = response.json()["error"]["fields"]
    assert (field["field"], field["rule"]) == ("url", rule)
    listed = strict_web.get("/v1/webhooks", headers=company.headers())
    assert listed.json() == {"webhooks": []}


def test_an_allowed_private_network_is_accepted_over_plain_http(hooks: Hooks) -> None:
    endpoint_id, _ = hooks.register("http://127.0.0.1:8080/hook")
    assert hooks.get(f"/{endpoint_id}")["url"] == "http://127.0.0.1:8080/hook"
    refused = hooks.post("", url="http://127.0.0.2:8080/hook", event_types=["email.sent"])
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["rule"] == "loopback_address"


def test_a_target_that_leads_inside_by_the_time_of_the_attempt_is_never_requested(
    hooks: Hooks, hooks_stack: PrivateStack
) -> None:
    """Registered while allowed; by the time of the attempt it leads to 127.0.0.2, which is not
    (as a host whose DNS answer changed would)."""
    with receiving() as allowed, receiving(host="127.0.0.2") as inside:
        endpoint_id, _ = hooks.register(allowed.url(), ["email.sent"])
        endpoint_sql(
            hooks_stack,
            "UPDATE webhook_endpoints SET url = %s WHERE id = %s",
            endpoint_id,
            inside.url(),
        )
        hooks.send_email()

        [delivery] = hooks.wait_deliveries(
            endpoint_id,
            lambda found: bool(found) and len(found[0]["attempts"]) >= 2,
            what="two attempts refused before sending",
        )
        for attempt in delivery["attempts"]:
            assert attempt["status_code"] is None
            assert attempt["error"].startswith("not sent (loopback_address)")
            assert "127.0.0.2" in attempt["error"]
        assert inside.received == []
        assert allowed.received == []
        hooks.api.delete(f"/v1/webhooks/{endpoint_id}", headers=hooks.company.headers())
