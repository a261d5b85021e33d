"""OAuth against the sandbox through google-auth-oauthlib's Flow and google-auth, as in the app."""

from __future__ import annotations

import base64
import datetime

import httpx
import pytest
from google.auth.exceptions import RefreshError
from google.oauth2 import id_token
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidGrantError
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

EXPIRED_OR_REVOKED = "Token has been expired or revoked."


def _flow(target: Target, **kwargs: str) -> Flow:
    return Flow.from_client_config(
        target.client_config(), scopes=APP_SCOPES, redirect_uri=REDIRECT_URI, **kwargs
    )


def _token_post(target: Target, data: dict[str, str], **kwargs: object) -> httpx.Response:
    return httpx.post(target.token_uri, data=data, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_a_full_code_and_pkce_exchange_yields_tokens_and_the_granted_scope(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox)

    assert creds.token.startswith("ya29.")
    assert creds.refresh_token.startswith("1//")
    assert set(creds.granted_scopes) == {"openid", USERINFO_EMAIL, GMAIL_SEND}
    assert creds.expiry > datetime.datetime.utcnow() + datetime.timedelta(minutes=59)
    assert sandbox.counters()["token_exchanges"] == {OWNER: 1}


def test_the_id_token_verifies_with_the_sandbox_certificates(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox)

    claims = id_token.verify_token(
        creds.id_token,
        token_request(),
        audience=target_sandbox.client_id,
        certs_url=target_sandbox.certs_url,
    )

    assert claims["iss"] == "https://accounts.google.com"
    assert claims["aud"] == claims["azp"] == target_sandbox.client_id
    assert claims["email"] == OWNER
    assert claims["email_verified"] is True
    assert claims["sub"].isdigit()
    assert claims["exp"] > claims["iat"]


def test_the_jwks_endpoint_serves_the_same_key_id(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    pem = httpx.get(target_sandbox.certs_url).json()
    jwks = httpx.get(sandbox.base_url + "/oauth2/v3/certs").json()

    assert [key["kid"] for key in jwks["keys"]] == list(pem)
    assert jwks["keys"][0]["alg"] == "RS256"


def test_an_unverified_account_gets_email_verified_false(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox, "unverified@example-sandbox.test")

    claims = id_token.verify_token(
        creds.id_token, token_request(), target_sandbox.client_id, target_sandbox.certs_url
    )
    assert claims["email_verified"] is False


def test_refresh_returns_a_new_access_token_and_keeps_the_refresh_token(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    first = connect(sandbox, target_sandbox)
    creds = target_sandbox.credentials(first.refresh_token)

    creds.refresh(token_request())

    assert creds.token != first.token
    assert creds.refresh_token == first.refresh_token
    assert creds.id_token is not None
    assert sandbox.counters()["token_refreshes"] == {OWNER: 1}


@pytest.mark.parametrize(
    ("reason", "error", "description"),
    [
        ("expired_or_revoked", "invalid_grant", EXPIRED_OR_REVOKED),
        ("password_changed", "invalid_grant", EXPIRED_OR_REVOKED),
        ("testing_mode_expired", "invalid_grant", EXPIRED_OR_REVOKED),
        ("idle_six_months", "invalid_grant", EXPIRED_OR_REVOKED),
        ("account_deleted", "invalid_grant", "Account has been deleted"),
        ("admin_policy", "admin_policy_enforced", "Access blocked by organization policy"),
    ],
)
def test_each_invalidation_reason_refuses_refresh_with_googles_error(
    sandbox: SandboxClient, target_sandbox: Target, reason: str, error: str, description: str
) -> None:
    creds = target_sandbox.credentials(connect(sandbox, target_sandbox).refresh_token)
    sandbox.invalidate(OWNER, reason)

    with pytest.raises(RefreshError) as refused:
        creds.refresh(token_request())

    assert refused.value.args[0] == f"{error}: {description}"
    assert refused.value.args[1] == {"error": error, "error_description": description}
    assert refused.value.retryable is False


def test_revoking_the_refresh_token_makes_refresh_fail_with_invalid_grant(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox)

    assert httpx.post(target_sandbox.revoke_uri, params={"token": creds.refresh_token}).is_success
    with pytest.raises(RefreshError) as refused:
        target_sandbox.credentials(creds.refresh_token).refresh(token_request())

    assert refused.value.args[1]["error_description"] == EXPIRED_OR_REVOKED
    assert sandbox.counters()["revokes"] == {OWNER: 1}


def test_revoking_the_access_token_in_the_form_body_kills_the_whole_grant(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox)

    assert httpx.post(target_sandbox.revoke_uri, data={"token": creds.token}).status_code == 200
    with pytest.raises(RefreshError, match="invalid_grant"):
        target_sandbox.credentials(creds.refresh_token).refresh(token_request())


def test_revoking_an_unknown_or_revoked_token_answers_invalid_token(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox)
    httpx.post(target_sandbox.revoke_uri, data={"token": creds.refresh_token})

    again = httpx.post(target_sandbox.revoke_uri, data={"token": creds.refresh_token})
    unknown = httpx.post(target_sandbox.revoke_uri, data={"token": "nonsense"})

    for response in (again, unknown):
        assert response.status_code == 400
        assert response.json() == {
            "error": "invalid_token",
            "error_description": "Token expired or revoked",
        }


def test_the_user_revoking_access_in_their_account_kills_refresh(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox)
    sandbox.user_revokes(OWNER)

    with pytest.raises(RefreshError) as refused:
        target_sandbox.credentials(creds.refresh_token).refresh(token_request())
    assert refused.value.args[1]["error_description"] == EXPIRED_OR_REVOKED


def test_a_callback_flow_without_the_saved_verifier_gets_missing_code_verifier(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    url, state = _flow(target_sandbox).authorization_url(prompt="consent")
    approval = sandbox.approve(url)
    callback = _flow(target_sandbox, state=state)  # no code_verifier: the gotcha of §0.5

    with pytest.raises(InvalidGrantError) as refused:
        callback.fetch_token(authorization_response=approval["redirect_url"])
    assert refused.value.description == "Missing code verifier."


def test_a_wrong_code_verifier_gets_invalid_code_verifier(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    url, state = _flow(target_sandbox).authorization_url(prompt="consent")
    approval = sandbox.approve(url)
    callback = _flow(target_sandbox, state=state, code_verifier="x" * 64)

    with pytest.raises(InvalidGrantError) as refused:
        callback.fetch_token(authorization_response=approval["redirect_url"])
    assert refused.value.description == "Invalid code verifier."


def test_a_code_works_once_only(sandbox: SandboxClient, target_sandbox: Target) -> None:
    first = _flow(target_sandbox)
    url, state = first.authorization_url(prompt="consent")
    approval = sandbox.approve(url)
    callback = _flow(target_sandbox, state=state, code_verifier=first.code_verifier)
    callback.fetch_token(authorization_response=approval["redirect_url"])

    with pytest.raises(InvalidGrantError):
        callback.fetch_token(authorization_response=approval["redirect_url"])


def test_a_code_exchanged_with_another_redirect_uri_gets_redirect_uri_mismatch(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    first = _flow(target_sandbox)
    url, _state = first.authorization_url(prompt="consent")
    code = sandbox.approve(url)["code"]

    response = _token_post(
        target_sandbox,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:9999/elsewhere",
            "code_verifier": first.code_verifier,
            "client_id": target_sandbox.client_id,
            "client_secret": target_sandbox.client_secret,
        },
    )

    assert response.status_code == 400
    assert response.json()["error"] == "redirect_uri_mismatch"


def test_an_unregistered_redirect_uri_gets_googles_error_page(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    flow = Flow.from_client_config(
        target_sandbox.client_config(), APP_SCOPES, redirect_uri="http://evil.test/cb"
    )
    url, _ = flow.authorization_url()

    page = httpx.get(url)

    assert page.status_code == 400
    assert "Error 400: redirect_uri_mismatch" in page.text


def test_a_redirect_uri_registered_at_runtime_is_accepted(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    sandbox.add_redirect_uris(["http://127.0.0.1:18123/oauth/google/callback"])
    flow = Flow.from_client_config(
        target_sandbox.client_config(),
        APP_SCOPES,
        redirect_uri="http://127.0.0.1:18123/oauth/google/callback",
    )
    url, _ = flow.authorization_url()

    assert httpx.get(url).status_code == 200


def test_a_wrong_client_secret_gets_invalid_client_401(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox)
    basic = base64.b64encode(f"{target_sandbox.client_id}:wrong".encode()).decode()

    response = _token_post(
        target_sandbox,
        {"grant_type": "refresh_token", "refresh_token": creds.refresh_token},
        headers={"Authorization": "Basic " + basic},
    )

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client", "error_description": "Unauthorized"}


def test_refresh_accepts_a_scope_subset_and_refuses_more(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox, grant_send=False)

    subset = target_sandbox.credentials(creds.refresh_token, scopes=["openid", "email"])
    subset.refresh(token_request())
    wider = target_sandbox.credentials(creds.refresh_token, scopes=APP_SCOPES)
    with pytest.raises(RefreshError) as refused:
        wider.refresh(token_request())

    assert set(subset.granted_scopes) == {"openid", USERINFO_EMAIL}
    assert refused.value.args[1]["error"] == "invalid_scope"
    assert GMAIL_SEND in refused.value.args[1]["error_description"]


def test_unticking_send_email_drops_gmail_send_from_the_granted_scope(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = connect(sandbox, target_sandbox, grant_send=False)

    assert GMAIL_SEND not in creds.granted_scopes
    assert GMAIL_SEND in creds.scopes  # the requested list still has it


def test_cancel_on_the_consent_page_redirects_with_access_denied(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    first = _flow(target_sandbox)
    url, state = first.authorization_url(prompt="consent")
    denied = sandbox.approve(url, action="cancel")
    callback = _flow(target_sandbox, state=state, code_verifier=first.code_verifier)

    assert "error=access_denied" in denied["redirect_url"]
    with pytest.raises(AccessDeniedError):
        callback.fetch_token(authorization_response=denied["redirect_url"])


def test_a_refresh_token_comes_only_with_offline_access_and_first_or_forced_consent(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    online = connect(sandbox, target_sandbox, access_type="online")
    first = connect(sandbox, target_sandbox, prompt="select_account")
    again = connect(sandbox, target_sandbox, prompt="select_account")
    forced = connect(sandbox, target_sandbox, prompt="consent")

    assert online.refresh_token is None
    assert first.refresh_token is not None
    assert again.refresh_token is None
    assert forced.refresh_token is not None


def test_the_consent_page_has_the_documented_controls_and_login_hint_preselects(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    url, _ = _flow(target_sandbox).authorization_url(login_hint="billing@acme-sandbox.test")

    page = httpx.get(url).text

    assert (
        'id="account-billing-acme-sandbox-test" value="billing@acme-sandbox.test" checked' in page
    )
    for control in ('name="grant_gmail_send"', 'id="allow"', 'id="cancel"', 'id="account-email"'):
        assert control in page


def test_posting_the_consent_form_redirects_with_a_code_for_a_typed_account(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    first = _flow(target_sandbox)
    url, state = first.authorization_url(prompt="consent")
    params = dict(httpx.URL(url).params)

    answer = httpx.post(
        target_sandbox.auth_uri,
        data={**params, "account_email": "new.person@example.test", "action": "allow"},
    )
    callback = _flow(target_sandbox, state=state, code_verifier=first.code_verifier)
    callback.fetch_token(authorization_response=answer.headers["location"])

    assert answer.status_code == 302
    assert GMAIL_SEND not in callback.credentials.granted_scopes  # checkbox not posted
    claims = id_token.verify_token(
        callback.credentials.id_token,
        token_request(),
        target_sandbox.client_id,
        target_sandbox.certs_url,
    )
    assert claims["email"] == "new.person@example.test"


def test_sandbox_auto_answers_the_authorization_request_without_a_page(
    target_sandbox: Target,
) -> None:
    url, state = _flow(target_sandbox).authorization_url(prompt="consent")

    answer = httpx.get(url + "&sandbox_auto=other@example-sandbox.test&sandbox_grant_send=0")

    location = httpx.URL(answer.headers["location"])
    assert answer.status_code == 302
    assert location.params["state"] == state
    assert location.params["code"].startswith("4/0A")
    assert GMAIL_SEND not in location.params["scope"]


def test_testing_mode_adds_refresh_token_expires_in(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    sandbox.settings(testing_mode=True)
    first = _flow(target_sandbox)
    url, _ = first.authorization_url(prompt="consent")
    code = sandbox.approve(url)["code"]

    response = _token_post(
        target_sandbox,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": first.code_verifier,
            "client_id": target_sandbox.client_id,
            "client_secret": target_sandbox.client_secret,
        },
    )

    assert response.json()["refresh_token_expires_in"] == 604799


def test_the_access_token_lifetime_is_settable(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    sandbox.settings(access_token_lifetime=30)

    creds = connect(sandbox, target_sandbox)

    assert creds.expiry < datetime.datetime.utcnow() + datetime.timedelta(seconds=31)
    assert creds.expired  # inside google-auth's refresh threshold


def test_an_injected_token_error_is_retried_by_google_auth(
    sandbox: SandboxClient, target_sandbox: Target
) -> None:
    creds = target_sandbox.credentials(connect(sandbox, target_sandbox).refresh_token)
    sandbox.add_fault(503, target="token", account=OWNER)

    creds.refresh(token_request())

    assert creds.valid
    assert sandbox.counters()["errors_injected"] == 1
