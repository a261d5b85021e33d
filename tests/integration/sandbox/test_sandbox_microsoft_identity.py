"""Microsoft's identity platform in the sandbox, through the real msal library over HTTPS."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests
from microsoft_flows import OWNER, REDIRECT_URI, Microsoft

from mailroute_sandbox.microsoft import MICROSOFT_SANDBOX_CLIENT_ID, MICROSOFT_SANDBOX_CLIENT_SECRET

MAIL_SEND = "https://graph.microsoft.com/Mail.Send"


def _token_endpoint(microsoft: Microsoft) -> str:
    return microsoft.authority + "/oauth2/v2.0/token"


def _refresh_directly(microsoft: Microsoft, refresh_token: str) -> requests.Response:
    return microsoft.http.post(
        _token_endpoint(microsoft),
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": MICROSOFT_SANDBOX_CLIENT_ID,
            "client_secret": MICROSOFT_SANDBOX_CLIENT_SECRET,
            "scope": "Mail.Send offline_access",
        },
    )


def _posted_fields(page: str) -> dict[str, str]:
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {name: html.unescape(value) for name, value in found}


def _cached_refresh_tokens(cache: msal.SerializableTokenCache) -> list[str]:
    return [rt["secret"] for rt in json.loads(cache.serialize()).get("RefreshToken", {}).values()]


def test_msal_signs_in_and_gets_microsoft_shaped_tokens(microsoft: Microsoft) -> None:
    result = microsoft.sign_in(microsoft.app())

    assert result["token_type"] == "Bearer"
    assert set(result["scope"].split()) == {MAIL_SEND, "openid", "profile", "offline_access"}
    assert result["refresh_token"]
    assert result["access_token"]
    assert result["expires_in"] == 3599
    info = json.loads(base64.urlsafe_b64decode(result["client_info"] + "=="))
    claims = microsoft.verified_claims(result["id_token"])
    assert info == {"uid": claims["oid"], "utid": claims["tid"]}
    assert claims["iss"] == f"{microsoft.server.microsoft_base_url}/{claims['tid']}/v2.0"
    assert claims["preferred_username"] == OWNER
    assert claims["ver"] == "2.0"
    assert claims["nonce"] == result["id_token_claims"]["nonce"]
    assert microsoft.controls.ms_counters()["token_exchanges"] == {OWNER: 1}


def test_the_id_token_carries_email_only_when_the_email_scope_was_asked(
    microsoft: Microsoft,
) -> None:
    without = microsoft.sign_in(microsoft.app())
    with_email = microsoft.sign_in(microsoft.app(), scopes=["email", "Mail.Send"])

    assert "email" not in microsoft.verified_claims(without["id_token"])
    assert microsoft.verified_claims(with_email["id_token"])["email"] == OWNER
    assert "email" in with_email["scope"].split()


def test_a_silent_refresh_after_expiry_rotates_the_refresh_token_kept_in_the_cache(
    microsoft: Microsoft,
) -> None:
    cache = msal.SerializableTokenCache()
    microsoft.sign_in(microsoft.app(cache))
    [first] = _cached_refresh_tokens(cache)
    stored = cache.serialize()
    microsoft.controls.ms_expire_access_tokens(OWNER)
    microsoft.controls.ms_settings(invalidate_rotated_refresh_tokens=True)

    reloaded = msal.SerializableTokenCache()
    reloaded.deserialize(stored)
    app = microsoft.app(reloaded)
    [account] = app.get_accounts()
    result = app.acquire_token_silent(["Mail.Send"], account=account)

    assert result is not None
    assert "access_token" in result
    assert reloaded.has_state_changed
    [newest] = _cached_refresh_tokens(reloaded)
    assert newest != first
    refused = _refresh_directly(microsoft, first)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert refused.json()["error_codes"] == [50173]
    assert _refresh_directly(microsoft, newest).status_code == 200
    assert microsoft.controls.ms_counters()["token_refreshes"] == {OWNER: 2}


def test_a_rotated_refresh_token_stays_valid_by_default_as_microsofts_do(
    microsoft: Microsoft,
) -> None:
    first = microsoft.sign_in(microsoft.app())["refresh_token"]

    rotated = _refresh_directly(microsoft, first).json()["refresh_token"]

    assert rotated != first
    assert _refresh_directly(microsoft, first).status_code == 200


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("inactive", 700082),
        ("expired", 70008),
        ("revoked", 50173),
        ("consent_missing", 65001),
        ("mfa_required", 50076),
    ],
)
def test_each_invalidation_reaches_msal_as_its_aadsts_code_and_kills_access_tokens(
    microsoft: Microsoft, reason: str, code: int
) -> None:
    app = microsoft.app()
    signed_in = microsoft.sign_in(app)
    microsoft.controls.ms_invalidate(OWNER, reason)
    [account] = app.get_accounts()

    result = app.acquire_token_silent_with_error(["Mail.Send"], account=account, force_refresh=True)
    sent = microsoft.send_mime(signed_in["access_token"], b"To: a@example.test\r\n\r\nx\r\n")

    assert result is not None
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [code]
    assert result["error_description"].startswith(f"AADSTS{code}: ")
    assert "Trace ID: " in result["error_description"]
    assert result.get("suberror") == ("basic_action" if reason == "mfa_required" else None)
    assert sent.status_code == 401
    assert sent.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert microsoft.controls.ms_counters()["refresh_failures"] == {OWNER: 1}


def test_the_token_endpoint_refuses_a_wrong_secret_a_reused_code_and_a_bad_verifier(
    microsoft: Microsoft,
) -> None:
    wrong = microsoft.app(secret="not-the-secret")
    flow = wrong.initiate_auth_code_flow(
        ["Mail.Send"], redirect_uri=REDIRECT_URI, response_mode="form_post"
    )
    answer = microsoft.controls.ms_approve(OWNER, flow["auth_uri"])
    refused = wrong.acquire_token_by_auth_code_flow(flow, answer["params"])
    assert refused["error"] == "invalid_client"
    assert refused["error_codes"] == [7000215]

    app = microsoft.app()
    flow = app.initiate_auth_code_flow(
        ["Mail.Send"], redirect_uri=REDIRECT_URI, response_mode="form_post"
    )
    answer = microsoft.controls.ms_approve(OWNER, flow["auth_uri"])
    form = {
        "grant_type": "authorization_code",
        "code": answer["code"],
        "redirect_uri": REDIRECT_URI,
        "client_id": MICROSOFT_SANDBOX_CLIENT_ID,
        "client_secret": MICROSOFT_SANDBOX_CLIENT_SECRET,
        "code_verifier": "a-verifier-of-another-flow-entirely-0123456789",
    }
    bad_verifier = microsoft.http.post(_token_endpoint(microsoft), data=form)
    redeemed = app.acquire_token_by_auth_code_flow(flow, answer["params"])
    again = microsoft.http.post(
        _token_endpoint(microsoft), data={**form, "code_verifier": flow["code_verifier"]}
    )

    assert bad_verifier.json()["error_codes"] == [501481]
    assert "access_token" in redeemed
    assert again.json()["error"] == "invalid_grant"
    assert again.json()["error_codes"] == [54005]


def test_openid_configuration_names_the_endpoints_msal_uses(microsoft: Microsoft) -> None:
    base = microsoft.server.microsoft_base_url
    common = microsoft.http.get(base + "/common/v2.0/.well-known/openid-configuration").json()
    tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    own = microsoft.http.get(f"{base}/{tenant}/v2.0/.well-known/openid-configuration").json()

    assert common["issuer"] == base + "/{tenantid}/v2.0"
    assert common["token_endpoint"] == base + "/common/oauth2/v2.0/token"
    assert common["jwks_uri"] == base + "/common/discovery/v2.0/keys"
    assert common["end_session_endpoint"] == base + "/common/oauth2/v2.0/logout"
    assert common["id_token_signing_alg_values_supported"] == ["RS256"]
    assert own["issuer"] == f"{base}/{tenant}/v2.0"


def test_the_consent_page_lists_the_permissions_and_accept_or_cancel_redirect(
    microsoft: Microsoft,
) -> None:
    app = microsoft.app()
    flow = app.initiate_auth_code_flow(
        ["Mail.Send"], redirect_uri=REDIRECT_URI, response_mode="form_post", login_hint=OWNER
    )
    page = microsoft.http.get(flow["auth_uri"])
    fields = dict(parse_qs(urlsplit(flow["auth_uri"]).query))
    form = {k: v[0] for k, v in fields.items()}

    accepted = microsoft.http.post(
        urlsplit(flow["auth_uri"])._replace(query="").geturl(),
        data={**form, "account": OWNER, "action": "accept"},
        allow_redirects=False,
    )
    cancelled = microsoft.http.post(
        urlsplit(flow["auth_uri"])._replace(query="").geturl(),
        data={**form, "action": "cancel"},
        allow_redirects=False,
    )

    assert page.status_code == 200
    assert "Send mail as you" in page.text
    assert 'id="accept"' in page.text
    assert 'id="cancel"' in page.text
    assert f'value="{OWNER}" checked' in page.text
    assert accepted.status_code == 200  # response_mode=form_post: a page posting to the app
    assert f'action="{REDIRECT_URI}"' in accepted.text
    answer = _posted_fields(accepted.text)
    assert answer["state"] == flow["state"]
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, answer)
    denied = _posted_fields(cancelled.text)
    assert denied["error"] == "access_denied"
    assert denied["error_description"].startswith("AADSTS65004:")


def test_an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(
    microsoft: Microsoft,
) -> None:
    flow = microsoft.app().initiate_auth_code_flow(
        ["Mail.Send"], redirect_uri="https://evil.example/callback", response_mode="form_post"
    )

    page = microsoft.http.get(flow["auth_uri"], allow_redirects=False)

    assert page.status_code == 400
    assert "AADSTS50011" in page.text


def test_signing_out_is_recorded_and_leaves_refresh_tokens_working(microsoft: Microsoft) -> None:
    refresh_token = microsoft.sign_in(microsoft.app())["refresh_token"]

    out = microsoft.http.get(
        microsoft.authority + "/oauth2/v2.0/logout",
        params={"post_logout_redirect_uri": "http://127.0.0.1:8000/", "logout_hint": OWNER},
        allow_redirects=False,
    )

    assert out.status_code == 302
    assert out.headers["location"] == "http://127.0.0.1:8000/"
    [sign_out] = microsoft.controls.ms_sign_outs()
    assert sign_out["logout_hint"] == OWNER
    assert _refresh_directly(microsoft, refresh_token).status_code == 200


def test_the_plain_listener_serves_the_ca_that_issued_the_tls_certificate(
    microsoft: Microsoft,
) -> None:
    served = microsoft.controls.ms_ca_pem()

    assert served == microsoft.server.microsoft_ca_path.read_bytes()
    assert hashlib.sha256(served).hexdigest()
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(microsoft.authority + "/v2.0/.well-known/openid-configuration", timeout=10)


@pytest.mark.parametrize(("short", "source"), [(False, "identity_provider"), (True, "cache")])
def test_msal_finds_its_cached_token_only_when_the_answered_scope_names_match_the_asked_ones(
    microsoft: Microsoft, short: bool, source: str
) -> None:
    microsoft.controls.ms_settings(short_graph_scopes=short)
    app = microsoft.app()
    signed_in = microsoft.sign_in(app)
    [account] = app.get_accounts()

    again = app.acquire_token_silent(["Mail.Send"], account=account)

    assert ("Mail.Send" in signed_in["scope"].split()) is short
    assert again is not None
    assert again["token_source"] == source


def test_the_approve_control_takes_the_request_fields_without_a_url(microsoft: Microsoft) -> None:
    app = microsoft.app()
    flow = app.initiate_auth_code_flow(
        ["Mail.Send"], redirect_uri=REDIRECT_URI, response_mode="form_post"
    )
    fields = {k: v[0] for k, v in parse_qs(urlsplit(flow["auth_uri"]).query).items()}
    wanted = ("redirect_uri", "scope", "state", "code_challenge", "nonce", "client_info")

    answer = microsoft.http.post(
        microsoft.server.base_url + f"/_sandbox/microsoft/accounts/{OWNER}/approve",
        json={name: fields[name] for name in wanted},
    ).json()

    assert answer["redirect"].startswith(REDIRECT_URI + "?code=")
    assert answer["params"]["state"] == flow["state"]
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, answer["params"])
