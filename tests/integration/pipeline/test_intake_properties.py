"""The intake's promise, as a property over generated requests sent to the running web process:
each request, valid, sloppy or hostile, is either refused with a 4xx naming a field and a rule,
or accepted (202) and then ends `sent` or `failed` — never a 500, never a hang, never an email
that stays `accepted`, `queued` or `sending`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings

from tests.conftest import TestCompany, final_email
from tests.email_request_strategies import email_requests
from tests.integration.pipeline.doors import post_json
from tests.stack import Process


def test_any_request_is_refused_naming_a_field_and_a_rule_or_accepted_and_finished(
    api: httpx.Client, company: TestCompany, worker: Process
) -> None:
    accepted: list[str] = []
    answered: dict[int, int] = {}

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(email_requests(company.id))
    def knock(body: dict[str, Any]) -> None:
        response = post_json(api, company, body)
        answered[response.status_code] = answered.get(response.status_code, 0) + 1
        if response.status_code == 202:
            accepted.append(response.json()["id"])
            return
        assert 400 <= response.status_code < 500, (response.status_code, response.text, body)
        fields = response.json()["error"]["fields"]
        assert fields, response.text
        for problem in fields:
            assert problem["field"], response.text
            assert problem["rule"], response.text

    knock()

    assert accepted, answered  # the property saw both sides
    assert len(accepted) < sum(answered.values()), answered
    for email_id in accepted:
        email = final_email(api, company, email_id, timeout=30)
        assert email["status"] in ("sent", "failed"), json.dumps(email)
        if email["status"] == "failed":
            assert email["error"]["code"], email
