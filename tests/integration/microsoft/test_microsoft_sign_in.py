"""Sign in with Microsoft through the real msal against the sandbox's identity platform (over
HTTPS): the authorization request, the code exchange and its verified ID token, access tokens
from the connection's msal cache, rotation of refresh tokens, and every way a grant breaks."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from mailroute.adapters.microsoft import errors as ms
from mailroute.adapters.microsoft.errors import MicrosoftCodeRefusedError
from mailroute.adapters.microsoft.identity import has_mail_send, mail_reading_scopes
from mailroute.adapters.microsoft.oauth import MicrosoftOAuth
from mailroute.config.microsoft_settings import MicrosoftSettings
from mailroute.core.errors import MicrosoftAuthBrokenError
from mailroute_sandbox.client import SandboxClient
from tests.integration.microsoft.conftest import REDIRECT_URI, new_address, sign_in


def refresh_tokens(cache: str) -> set[str]:
    return {entry["secret"] for entry in json.loads(cache).get("RefreshToken", {}).values()}


def test_the_authorization_request_asks_mail_send_email_and_msals_own_scopes_with_pkce(
    oauth: MicrosoftOAuth,
) -> None:
    start = oauth.authorization_url("state-1", login_hint="ada@contoso.example")
    query = parse_qs(urlsplit(start.url).query)
    assert set(query["scope"][0].split()) == {
        "email",
        "https://graph.microsoft.com/Mail.Send",
        "openid",
        "profile",
        "offline_access",
    }
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] == ["state-1"]
    assert query["redirect_uri"] == [REDIRECT_URI]
    assert query["nonce"]
    flow = json.loads(start.code_verifier)
    assert flow["state"] == "state-1"
    assert flow["code_verifier"]
    assert flow["nonce"]
    assert "code_verifier" not in repr(start)


def test_signing_in_gives_a_verified_identity_a_least_privilege_grant_and_a_cache(
    sandbox: SandboxClient, oauth: MicrosoftOAuth
) -> None:
    signed = sign_in(sandbox, oauth, name="Ada Lovelace")
    grant = signed.grant
    assert grant.identity.email == signed.address
    assert grant.identity.subject == f"{grant.identity.object_id}.{grant.identity.tenant_id}"
    assert grant.identity.name == "Ada Lovelace"
    assert has_mail_send(grant.granted_scopes)
    assert mail_reading_scopes(grant.granted_scopes) == ()
    assert grant.account_id.endswith(grant.identity.tenant_id)
    assert refresh_tokens(grant.cache)
    assert grant.access_token not in repr(grant)
    assert sandbox.ms_counters()["token_exchanges"][signed.address] == 1


def test_a_code_is_redeemed_once(sandbox: SandboxClient, oauth: MicrosoftOAuth) -> None:
    address = new_address()
    sandbox.ms_add_account(address)
    start = oauth.authorization_url("state-2")
    query = parse_qs(urlsplit(sandbox.ms_approve(address, start.url)["redirect"]).query)
    oauth.exchange_code(query["code"][0], state="state-2", code_verifier=start.code_verifier)
    with pytest.raises(MicrosoftCodeRefusedError):
        oauth.exchange_code(query["code"][0], state="state-2", code_verifier=start.code_verifier)


def test_a_callback_with_another_state_is_refused(
    sandbox: SandboxClient, oauth: MicrosoftOAuth
) -> None:
    address = new_address()
    sandbox.ms_add_account(address)
    start = oauth.authorization_url("state-3")
    query = parse_qs(urlsplit(sandbox.ms_approve(address, start.url)["redirect"]).query)
    with pytest.raises(MicrosoftCodeRefusedError):
        oauth.exchange_code(query["code"][0], state="forged", code_verifier=start.code_verifier)


def test_an_expired_access_token_is_refreshed_silently_and_the_rotated_cache_returned(
    sandbox: SandboxClient, oauth: MicrosoftOAuth
) -> None:
    sandbox.ms_settings(access_token_lifetime_seconds=60)  # msal refreshes under 5 minutes left
    signed = sign_in(sandbox, oauth)
    first = oauth.access_token(signed.grant.cache, signed.grant.account_id)
    assert first.access_token != signed.grant.access_token
    assert first.new_cache is not None
    assert refresh_tokens(first.new_cache) != refresh_tokens(signed.grant.cache)
    newest = {t["token"] for t in sandbox.ms_account(signed.address)["refresh_tokens"]}
    assert refresh_tokens(first.new_cache) <= newest
    assert sandbox.ms_counters()["token_refreshes"][signed.address] == 1


def test_a_fresh_access_token_comes_from_the_cache_without_a_refresh(
    sandbox: SandboxClient, oauth: MicrosoftOAuth
) -> None:
    signed = sign_in(sandbox, oauth)  # the sandbox's default lifetime: 3599 s
    token = oauth.access_token(signed.grant.cache, signed.grant.account_id)
    assert token.access_token == signed.grant.access_token
    assert token.new_cache is None
    assert sandbox.ms_counters()["token_refreshes"].get(signed.address, 0) == 0


def test_with_rotated_refresh_tokens_invalidated_only_the_newest_cache_works(
    sandbox: SandboxClient, oauth: MicrosoftOAuth
) -> None:
    sandbox.ms_settings(access_token_lifetime_seconds=60, invalidate_rotated_refresh_tokens=True)
    signed = sign_in(sandbox, oauth)
    rotated = oauth.access_token(signed.grant.cache, signed.grant.account_id)
    assert rotated.new_cache is not None
    with pytest.raises(MicrosoftAuthBrokenError):
        oauth.access_token(signed.grant.cache, signed.grant.account_id)
    again = oauth.access_token(rotated.new_cache, signed.grant.account_id)
    assert again.new_cache is not None
    assert refresh_tokens(again.new_cache) != refresh_tokens(rotated.new_cache)


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ("inactive", ms.INACTIVE),
        ("expired", ms.EXPIRED),
        ("revoked", ms.REVOKED),
        ("consent_missing", ms.CONSENT_MISSING),
        ("mfa_required", ms.MFA_REQUIRED),
    ],
)
def test_each_refused_refresh_breaks_the_connection_with_its_reason(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, condition: str, reason: str
) -> None:
    signed = sign_in(sandbox, oauth)
    sandbox.ms_invalidate(signed.address, condition)
    with pytest.raises(MicrosoftAuthBrokenError) as broken:
        oauth.access_token(signed.grant.cache, signed.grant.account_id, force_refresh=True)
    assert broken.value.reason == reason
    assert "Trace ID" not in broken.value.message


def test_a_cache_without_the_account_breaks_the_connection(
    sandbox: SandboxClient, oauth: MicrosoftOAuth
) -> None:
    signed = sign_in(sandbox, oauth)
    with pytest.raises(MicrosoftAuthBrokenError):
        oauth.access_token(signed.grant.cache, "someone-else.tenant")


def test_signing_out_records_the_sign_out_and_revokes_nothing(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, ms_settings: MicrosoftSettings
) -> None:
    sandbox.ms_settings(access_token_lifetime_seconds=60)
    signed = sign_in(sandbox, oauth)
    url = oauth.sign_out_url("http://127.0.0.1:8000/settings/email")
    assert urlsplit(url).path.endswith("/oauth2/v2.0/logout")
    answer = requests.get(url, allow_redirects=False, timeout=10, verify=ms_settings.ca_file)
    assert answer.status_code in (200, 302, 303)
    assert len(sandbox.ms_sign_outs()) == 1
    still = oauth.access_token(signed.grant.cache, signed.grant.account_id)
    assert still.access_token
