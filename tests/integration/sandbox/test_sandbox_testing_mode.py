"""The sandbox's Google in testing mode: refresh tokens end a set time after the grant (Google:
7 days), every token answer says how long is left (`refresh_token_expires_in`), and after the
end a refresh is refused as Google refuses it."""

from __future__ import annotations

import httpx
from sandbox_targets import OWNER, Target, connect

from mailroute_sandbox.client import SandboxClient
from tests.stack import wait_for

EXPIRED_OR_REVOKED = "Token has been expired or revoked."


def _refresh(target: Target, refresh_token: str) -> httpx.Response:
    return httpx.post(
        target.token_uri,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": target.client_id,
            "client_secret": target.client_secret,
        },
        timeout=10,
    )


def test_a_testing_mode_refresh_token_says_what_is_left_on_every_refresh(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    sandbox.settings(testing_mode=True, refresh_token_lifetime_seconds=3600)
    creds = connect(sandbox, target_sandbox)

    answer = _refresh(target_sandbox, creds.refresh_token)

    assert answer.status_code == 200
    assert 3590 <= answer.json()["refresh_token_expires_in"] <= 3600
    assert "refresh_token" not in answer.json()


def test_the_default_testing_mode_lifetime_is_seven_days(sandbox: SandboxClient) -> None:
    assert sandbox.settings()["refresh_token_lifetime_seconds"] == 7 * 24 * 3600


def test_after_its_end_a_testing_mode_refresh_token_is_refused_as_google_refuses_it(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    sandbox.settings(testing_mode=True, refresh_token_lifetime_seconds=1)
    creds = connect(sandbox, target_sandbox)

    refused = wait_for(
        lambda: (r := _refresh(target_sandbox, creds.refresh_token)).status_code == 400 and r,
        timeout=10,
        what="the refresh token to end",
    )

    assert refused.json() == {"error": "invalid_grant", "error_description": EXPIRED_OR_REVOKED}
    assert sandbox.account(OWNER)["grants"][0]["dead_reason"] == "testing_mode_expired"


def test_outside_testing_mode_a_refresh_token_announces_no_end(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox)

    answer = _refresh(target_sandbox, creds.refresh_token)

    assert "refresh_token_expires_in" not in answer.json()


def test_identity_only_grants_get_no_end_in_testing_mode(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    sandbox.settings(testing_mode=True, refresh_token_lifetime_seconds=1)
    creds = connect(sandbox, target_sandbox, scopes=["openid", "email"], access_type="offline")

    answer = _refresh(target_sandbox, creds.refresh_token)

    assert answer.status_code == 200
    assert "refresh_token_expires_in" not in answer.json()
