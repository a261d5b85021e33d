"""The ID token check msal leaves out: the signature against the authority's published keys, the
audience, the expiry, the issuer with the token's own tenant, and the nonce. The authority's two
documents are served by an in-memory requests transport (no network)."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from requests.adapters import BaseAdapter

from mailroute.adapters.microsoft.errors import MicrosoftGrantRefusedError
from mailroute.adapters.microsoft.id_token import IdTokenVerifier, nonce_hash

AUTHORITY = "https://login.example/common"
CLIENT_ID = "00000000-0000-4000-8000-00000000a11c"
TID = "2243e956-4377-59bf-9963-19ca07a43837"
OID = "93d0bd9c-b229-5cbf-9cfb-040d130af0fd"
NONCE = nonce_hash("flow-nonce")
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Authority(BaseAdapter):
    """Answers the discovery document and the JWKS; counts the key fetches."""

    def __init__(self) -> None:
        super().__init__()
        self.key_fetches = 0

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response.url = str(request.url)
        if str(request.url).endswith("/.well-known/openid-configuration"):
            body: dict[str, Any] = {
                "issuer": "https://login.example/{tenantid}/v2.0",
                "jwks_uri": "https://login.example/common/discovery/v2.0/keys",
                "end_session_endpoint": "https://login.example/common/oauth2/v2.0/logout",
            }
        else:
            self.key_fetches += 1
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
            body = {"keys": [{**public, "kid": "k1", "use": "sig"}]}
        response._content = json.dumps(body).encode()
        return response

    def close(self) -> None:
        pass


@pytest.fixture
def authority() -> Authority:
    return Authority()


@pytest.fixture
def verifier(authority: Authority) -> IdTokenVerifier:
    session = requests.Session()
    session.mount("https://", authority)
    return IdTokenVerifier(AUTHORITY, CLIENT_ID, session=lambda: session)


def token(key: rsa.RSAPrivateKey = KEY, kid: str = "k1", **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": f"https://login.example/{TID}/v2.0",
        "aud": CLIENT_ID,
        "tid": TID,
        "oid": OID,
        "sub": "pairwise",
        "email": "ada@contoso.example",
        "nonce": NONCE,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "ver": "2.0",
    }
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_a_token_signed_by_the_authority_for_us_names_who_signed_in(
    verifier: IdTokenVerifier,
) -> None:
    identity = verifier.identity(token(), nonce=NONCE)
    assert identity.subject == f"{OID}.{TID}"
    assert identity.email == "ada@contoso.example"


@pytest.mark.parametrize(
    ("bad", "kwargs"),
    [
        ("another key", {"key": OTHER_KEY}),
        ("another audience", {"aud": "someone-else"}),
        ("expired", {"exp": int(time.time()) - 120}),
        ("another tenant's issuer", {"iss": "https://login.example/another/v2.0"}),
        ("another authority", {"iss": f"https://evil.example/{TID}/v2.0"}),
        ("no nonce", {"nonce": None}),
        ("another sign-in's nonce", {"nonce": nonce_hash("other")}),
    ],
)
def test_a_token_that_fails_a_check_is_refused(
    verifier: IdTokenVerifier, bad: str, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(MicrosoftGrantRefusedError) as refused:
        verifier.identity(token(**kwargs), nonce=NONCE)
    assert refused.value.code == "id_token_invalid", bad


def test_an_unsigned_token_is_refused(verifier: IdTokenVerifier) -> None:
    unsigned = jwt.encode({"aud": CLIENT_ID}, key="", algorithm="none")
    with pytest.raises(MicrosoftGrantRefusedError):
        verifier.identity(unsigned, nonce=NONCE)


def test_an_unknown_key_id_fetches_the_keys_again_at_most_every_30_seconds(
    verifier: IdTokenVerifier, authority: Authority
) -> None:
    verifier.identity(token(), nonce=NONCE)
    for _ in range(3):
        with pytest.raises(MicrosoftGrantRefusedError):
            verifier.identity(token(kid="rotated"), nonce=NONCE)
    assert authority.key_fetches == 1


def test_a_token_without_an_address_is_refused_as_such(verifier: IdTokenVerifier) -> None:
    with pytest.raises(MicrosoftGrantRefusedError) as refused:
        verifier.identity(token(email=None, preferred_username="+15551234567"), nonce=NONCE)
    assert refused.value.code == "email_invalid"


def test_the_end_session_endpoint_comes_from_discovery(verifier: IdTokenVerifier) -> None:
    assert verifier.end_session_endpoint() == "https://login.example/common/oauth2/v2.0/logout"
