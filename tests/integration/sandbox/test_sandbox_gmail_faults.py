"""Injected Google refusals beyond 429/5xx (research §2.3): the legacy 403 rate limits, the 400s
of a message Gmail will never send, and 401s that a fresh token does not cure, seen through
google-api-python-client exactly as the app will see them from Google."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from googleapiclient.errors import HttpError
from sandbox_targets import (
    OWNER,
    Target,
    connect,
    error_message,
    error_reason,
    gmail_service,
    message_bytes,
    raw_field,
)

from mailroute_sandbox.client import SandboxClient

BILLING = "billing@acme-sandbox.test"
INVALID_CREDENTIALS = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


def _send(service: Any) -> dict[str, Any]:
    body = {"raw": raw_field(message_bytes())}
    sent: dict[str, Any] = service.users().messages().send(userId="me", body=body).execute()
    return sent


def _error(error: HttpError) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(error.content)["error"]
    return found


@pytest.fixture
def service(sandbox: SandboxClient, target_sandbox: Target) -> Any:
    return gmail_service(connect(sandbox, target_sandbox), target_sandbox.gmail_root)


@pytest.mark.parametrize(
    ("kind", "status", "body", "counter"),
    [
        (
            "403_userRateLimitExceeded",
            403,
            {
                "code": 403,
                "message": "User Rate Limit Exceeded",
                "errors": [
                    {
                        "message": "User Rate Limit Exceeded",
                        "domain": "usageLimits",
                        "reason": "userRateLimitExceeded",
                    }
                ],
                "status": "PERMISSION_DENIED",
            },
            "rate_limited",
        ),
        (
            "403_rateLimitExceeded",
            403,
            {
                "code": 403,
                "message": "Rate Limit Exceeded",
                "errors": [
                    {
                        "message": "Rate Limit Exceeded",
                        "domain": "usageLimits",
                        "reason": "rateLimitExceeded",
                    }
                ],
                "status": "PERMISSION_DENIED",
            },
            "rate_limited",
        ),
        (
            "400_invalidArgument",
            400,
            {
                "code": 400,
                "message": "Invalid To header",
                "errors": [
                    {
                        "message": "Invalid To header",
                        "domain": "global",
                        "reason": "invalidArgument",
                    }
                ],
                "status": "INVALID_ARGUMENT",
            },
            "send_errors",
        ),
        (
            "400_failedPrecondition",
            400,
            {
                "code": 400,
                "message": "Precondition check failed.",
                "errors": [
                    {
                        "message": "Precondition check failed.",
                        "domain": "global",
                        "reason": "failedPrecondition",
                    }
                ],
                "status": "FAILED_PRECONDITION",
            },
            "send_errors",
        ),
    ],
)
def test_each_injected_refusal_answers_with_googles_exact_body_then_sends_succeed(
    sandbox: SandboxClient,
    service: Any,
    kind: str,
    status: int,
    body: dict[str, Any],
    counter: str,
) -> None:
    sandbox.add_fault(kind, count=2, account=OWNER)

    for _ in range(2):
        with pytest.raises(HttpError) as refused:
            _send(service)
        assert refused.value.resp.status == status
        assert error_reason(refused.value) == body["errors"][0]["reason"]
        assert _error(refused.value) == body
        assert refused.value.resp["content-type"] == "application/json; charset=UTF-8"
    _send(service)

    counters = sandbox.counters()
    assert counters["errors_injected"] == 2
    assert counters[counter] == {OWNER: 2}
    assert counters["sends"] == {OWNER: 1}
    assert len(sandbox.gmail_sent(OWNER)) == 1


def test_injected_401s_survive_the_clients_refreshes_like_a_refused_authorization(
    sandbox: SandboxClient, service: Any
) -> None:
    sandbox.add_fault(401, count=3, account=OWNER)

    with pytest.raises(HttpError) as refused:  # AuthorizedHttp refreshes twice, then gives up
        _send(service)

    assert refused.value.resp.status == 401
    assert error_reason(refused.value) == "authError"
    error = _error(refused.value)
    assert error["status"] == "UNAUTHENTICATED"
    assert error["message"] == INVALID_CREDENTIALS
    assert error["errors"][0] == {
        "message": "Invalid Credentials",
        "domain": "global",
        "reason": "authError",
        "location": "Authorization",
        "locationType": "header",
    }
    assert "details" not in error  # the token did not expire: Google refuses it
    assert 'error="invalid_token"' in refused.value.resp["www-authenticate"]
    counters = sandbox.counters()
    assert counters["token_refreshes"] == {OWNER: 2}
    assert counters["auth_failures"] == {OWNER: 3}
    assert sandbox.gmail_sent() == []
    _send(service)  # the injected 401s are used up
    assert len(sandbox.gmail_sent(OWNER)) == 1


def test_a_persistent_401_refuses_every_call_even_with_fresh_tokens_until_cleared(
    sandbox: SandboxClient, service: Any
) -> None:
    sandbox.refuse_authorization(OWNER)

    for _ in range(3):
        with pytest.raises(HttpError) as refused:
            _send(service)
        assert refused.value.resp.status == 401
        assert error_reason(refused.value) == "authError"

    counters = sandbox.counters()
    assert counters["token_refreshes"] == {OWNER: 6}  # each call got fresh tokens, twice
    assert counters["auth_failures"] == {OWNER: 9}
    [pending] = sandbox.faults()
    assert (pending["kind"], pending["persistent"], pending["account"]) == (401, True, OWNER)
    assert sandbox.gmail_sent() == []

    sandbox.add_fault(500, account=BILLING)
    assert sandbox.clear_faults(OWNER) == 1
    _send(service)
    assert len(sandbox.gmail_sent(OWNER)) == 1
    assert [f["account"] for f in sandbox.faults()] == [BILLING]


def test_a_persistent_401_of_one_account_leaves_another_alone(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    billing = gmail_service(connect(sandbox, target_sandbox, BILLING), target_sandbox.gmail_root)
    sandbox.refuse_authorization(OWNER)

    _send(billing)

    assert len(sandbox.gmail_sent(BILLING)) == 1


def test_an_injected_refusal_can_carry_another_of_googles_messages(
    sandbox: SandboxClient, service: Any
) -> None:
    sandbox.add_fault("400_invalidArgument", message="Recipient address required")
    sandbox.add_fault("400_failedPrecondition", message="Mail service not enabled")

    with pytest.raises(HttpError) as no_recipient:
        _send(service)
    with pytest.raises(HttpError) as not_enabled:
        _send(service)

    assert error_message(no_recipient.value) == "Recipient address required"
    assert _error(no_recipient.value)["errors"][0]["message"] == "Recipient address required"
    assert error_message(not_enabled.value) == "Mail service not enabled"
    assert error_reason(not_enabled.value) == "failedPrecondition"


@pytest.mark.parametrize("target", ["token", "any"])
def test_gmail_only_kinds_cannot_target_the_token_endpoint(
    sandbox: SandboxClient, target: str
) -> None:
    with pytest.raises(httpx.HTTPStatusError) as refused:
        sandbox.add_fault("403_userRateLimitExceeded", target=target)

    assert refused.value.response.status_code == 422
    assert sandbox.add_fault(500, target=target)["faults"][0]["kind"] == 500


def test_faults_without_the_new_fields_still_default_to_the_next_call_only(
    sandbox: SandboxClient, service: Any
) -> None:
    response = httpx.post(
        sandbox.base_url + "/_sandbox/faults", json={"kind": 503, "account": OWNER}
    )
    response.raise_for_status()
    [pending] = response.json()["faults"]
    assert (pending["persistent"], pending["message"], pending["remaining"]) == (False, None, 1)

    with pytest.raises(HttpError) as refused:
        _send(service)
    _send(service)

    assert refused.value.resp.status == 503
    assert httpx.delete(sandbox.base_url + "/_sandbox/faults").json()["ok"] is True
