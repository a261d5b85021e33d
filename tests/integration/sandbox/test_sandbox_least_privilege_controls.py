"""The sandbox controls the least-privilege and secrecy tests steer it with: a consent that
grants more than asked, an odd email in the ID token, a slow token endpoint, a failing revoke
endpoint, the record of every revocation, and every secret it issued."""

from __future__ import annotations

import time

import httpx
import pytest
from google.oauth2 import id_token
from google_auth_oauthlib.flow import Flow
from sandbox_targets import (
    APP_SCOPES,
    GMAIL_SEND,
    OWNER,
    REDIRECT_URI,
    USERINFO_EMAIL,
    Target,
    connect,
    token_request,
)

from mailroute_sandbox.client import SandboxClient

READONLY = "https://www.googleapis.com/auth/gmail.readonly"


def _revoke(target: Target, token: str) -> httpx.Response:
    return httpx.post(target.token_uri.replace("/token", "/revoke"), data={"token": token})


def test_a_consent_can_grant_more_scopes_than_the_app_asked_for(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    flow = Flow.from_client_config(
        target_sandbox.client_config(), scopes=APP_SCOPES, redirect_uri=REDIRECT_URI
    )
    url, _state = flow.authorization_url(prompt="consent")

    approval = sandbox.approve(url, OWNER, extra_scopes=[READONLY])
    flow.fetch_token(code=approval["code"])

    assert approval["scope"].split() == ["openid", USERINFO_EMAIL, GMAIL_SEND, READONLY]
    assert set(flow.credentials.granted_scopes) == {"openid", USERINFO_EMAIL, GMAIL_SEND, READONLY}
    [grant] = sandbox.account(OWNER)["grants"]
    assert READONLY in grant["scope"]


def test_the_id_token_can_carry_an_email_other_than_the_accounts(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    sandbox.add_account("odd@example-sandbox.test", id_token_email="not an address")

    creds = connect(sandbox, target_sandbox, "odd@example-sandbox.test")
    claims = id_token.verify_token(
        creds.id_token,
        token_request(),
        audience=target_sandbox.client_id,
        certs_url=target_sandbox.certs_url,
    )

    assert claims["email"] == "not an address"
    assert sandbox.account("odd@example-sandbox.test")["id_token_email"] == "not an address"


def test_every_revocation_is_recorded_with_its_token_and_answer(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox)

    first = _revoke(target_sandbox, creds.refresh_token)
    again = _revoke(target_sandbox, creds.refresh_token)

    assert (first.status_code, again.status_code) == (200, 400)
    calls = sandbox.revocations(OWNER)
    assert [(c["token"], c["token_kind"], c["status"], c["confirmed"]) for c in calls] == [
        (creds.refresh_token, "refresh_token", 200, True),
        (creds.refresh_token, "refresh_token", 400, False),
    ]


@pytest.mark.parametrize("kind", [500, 503])
def test_the_revoke_endpoint_can_fail_until_the_fault_is_cleared(
    sandbox: SandboxClient, target_sandbox: Target, kind: int
) -> None:
    creds = connect(sandbox, target_sandbox)
    sandbox.add_fault(kind, target="revoke", account=OWNER, persistent=True)

    refused = [_revoke(target_sandbox, creds.refresh_token).status_code for _ in range(2)]
    sandbox.clear_faults(OWNER)
    answered = _revoke(target_sandbox, creds.refresh_token)

    assert refused == [kind, kind]
    assert answered.status_code == 200
    assert [c["status"] for c in sandbox.revocations(OWNER)] == [kind, kind, 200]
    assert sandbox.counters()["revoke_failures"] == {OWNER: 2}
    assert sandbox.account(OWNER)["grants"][0]["dead_reason"] == "revoked"


def test_faults_for_any_endpoint_leave_the_revoke_endpoint_alone(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox)
    sandbox.add_fault(503, target="any", account=OWNER)

    assert _revoke(target_sandbox, creds.refresh_token).status_code == 200
    assert len(sandbox.faults()) == 1


def test_the_sandbox_lists_every_secret_it_issued_to_an_account(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox)
    creds.refresh(token_request())

    issued = sandbox.issued(OWNER)

    assert len(issued["codes"]) == 1
    assert issued["codes"][0].startswith("4/0A")
    assert len(issued["code_verifiers"]) == 1
    assert len(issued["code_verifiers"][0]) >= 43
    assert issued["refresh_tokens"] == [creds.refresh_token]
    assert creds.token in issued["access_tokens"]
    assert len(issued["access_tokens"]) == 2
    assert creds.id_token in issued["id_tokens"]


def test_the_token_endpoint_can_be_slowed(sandbox: SandboxClient, target_sandbox: Target) -> None:
    creds = connect(sandbox, target_sandbox)
    sandbox.settings(token_latency_ms=600)

    started = time.monotonic()
    creds.refresh(token_request())
    took = time.monotonic() - started

    assert took >= 0.6
    assert sandbox.settings()["token_latency_ms"] == 600
