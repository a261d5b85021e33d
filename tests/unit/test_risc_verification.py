"""A Security Event Token is accepted only as Google specifies: RS256 by a key the issuer's RISC
configuration publishes (refetched once for an unknown kid), from that issuer, for our client
id, issued recently; `exp` is never required."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from mailroute.adapters.google.risc_tokens import GoogleSecurityEventVerifier
from mailroute.core.risc import (
    TOKENS_REVOKED,
    Freshness,
    KeysUnavailableError,
    SecurityEventRefusedError,
)

CONFIG_URL = "https://issuer.test/.well-known/risc-configuration"
ISSUER = "https://accounts.google.com/"
AUDIENCE = "client-1.apps.googleusercontent.com"


class Issuer:
    """The configuration document and a JWKS that can rotate, with a count of fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {
            "k1": rsa.generate_private_key(public_exponent=65537, key_size=2048)
        }
        self.fetches = 0
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503)
        if str(request.url) == CONFIG_URL:
            self.fetches += 1
            return httpx.Response(
                200, json={"issuer": ISSUER, "jwks_uri": "https://issuer.test/jwks"}
            )
        jwks = []
        for kid, key in self.keys.items():
            jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            jwks.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return httpx.Response(200, json={"keys": jwks})

    def token(self, kid: str = "k1", key: Any = None, **claims: Any) -> str:
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": int(time.time()),
            "jti": f"jti-{time.monotonic_ns()}",
            "events": {TOKENS_REVOKED: {"subject": {"subject_type": "iss-sub", "sub": "1234"}}},
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


def verifier(issuer: Issuer, refetch_interval: float = 0.0) -> GoogleSecurityEventVerifier:
    return GoogleSecurityEventVerifier(
        CONFIG_URL,
        AUDIENCE,
        Freshness(max_age=timedelta(days=1)),
        http=httpx.Client(transport=httpx.MockTransport(issuer.handler)),
        refetch_interval=refetch_interval,
    )


def refusal(check: GoogleSecurityEventVerifier, token: str) -> str:
    with pytest.raises(SecurityEventRefusedError) as caught:
        check.verify(token)
    return caught.value.err


def test_a_token_signed_by_a_published_key_for_our_client_is_accepted_without_exp(
    issuer: Issuer,
) -> None:
    event = verifier(issuer).verify(issuer.token())

    assert event.event_types == (TOKENS_REVOKED,)
    assert event.subject == "1234"


def test_keys_are_cached_and_fetched_again_once_for_an_unknown_kid(issuer: Issuer) -> None:
    check = verifier(issuer)
    check.verify(issuer.token())
    check.verify(issuer.token())
    assert issuer.fetches == 1

    issuer.keys["k2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    check.verify(issuer.token(kid="k2"))

    assert issuer.fetches == 2


def test_an_unknown_kid_signed_by_another_key_is_refused_after_one_refetch(issuer: Issuer) -> None:
    check = verifier(issuer)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assert refusal(check, issuer.token(kid="nobody", key=stranger)) == "invalid_key"
    assert issuer.fetches == 1


def test_unknown_kids_in_a_flood_cost_one_fetch_per_interval(issuer: Issuer) -> None:
    check = verifier(issuer, refetch_interval=3600)
    check.verify(issuer.token())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for n in range(20):
        assert refusal(check, issuer.token(kid=f"made-up-{n}", key=stranger)) == "invalid_key"

    assert issuer.fetches == 1


def test_a_forged_signature_under_a_published_kid_is_refused(issuer: Issuer) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assert refusal(verifier(issuer), issuer.token(kid="k1", key=stranger)) == "invalid_key"


def test_another_audience_is_refused(issuer: Issuer) -> None:
    token = issuer.token(aud="someone-else.apps.googleusercontent.com")

    assert refusal(verifier(issuer), token) == "invalid_audience"


def test_another_issuer_is_refused(issuer: Issuer) -> None:
    assert refusal(verifier(issuer), issuer.token(iss="https://evil.test/")) == "invalid_issuer"


def test_an_old_token_and_one_from_the_future_are_refused(issuer: Issuer) -> None:
    check = verifier(issuer)

    assert refusal(check, issuer.token(iat=int(time.time()) - 2 * 86400)) == "invalid_request"
    assert refusal(check, issuer.token(iat=int(time.time()) + 3600)) == "invalid_request"


def test_a_token_without_jti_or_events_or_iat_is_refused(issuer: Issuer) -> None:
    check = verifier(issuer)

    assert refusal(check, issuer.token(jti=None)) == "invalid_request"
    assert refusal(check, issuer.token(iat=None)) == "invalid_request"
    assert refusal(check, issuer.token(events={})) == "invalid_request"


def test_garbage_and_other_algorithms_are_refused(issuer: Issuer) -> None:
    check = verifier(issuer)
    hs256 = jwt.encode(
        {"iss": ISSUER},
        "a-shared-secret-that-is-long-enough!",
        algorithm="HS256",
        headers={"kid": "k1"},
    )

    assert refusal(check, "not a jwt") == "invalid_request"
    assert refusal(check, hs256) == "invalid_request"


def test_unreadable_keys_are_not_a_refusal_of_the_token(issuer: Issuer) -> None:
    issuer.down = True

    with pytest.raises(KeysUnavailableError):
        verifier(issuer).verify(issuer.token())
