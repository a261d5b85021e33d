"""Verifying Google's Security Event Tokens as Google specifies: RS256 against the issuer's keys,
found through its RISC configuration document (`issuer`, `jwks_uri`), then `iss`, `aud` (our
client id) and `iat` freshness (`core.risc.Freshness`). `exp` is not required: SETs do not expire.

The configuration and its keys are cached for the process; a `kid` the cache does not know
refetches both once (Google rotates its keys), and a `kid` still unknown after that is refused,
as is a known `kid` whose signature does not verify. Fetches are serialised and spaced, so a flood
of tokens with made-up `kid`s costs at most one fetch a `refetch_interval`.

Every failure is a `SecurityEventRefusedError` with the SET push error code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
from jwt.algorithms import RSAAlgorithm

from mailroute.core.risc import (
    Freshness,
    KeysUnavailableError,
    SecurityEvent,
    SecurityEventRefusedError,
    read_claims,
)

_ALGORITHMS = ["RS256"]


class _Keys:
    def __init__(self, issuer: str, keys: dict[str, Any]) -> None:
        self.issuer = issuer
        self.keys = keys


class GoogleSecurityEventVerifier:
    """One per process; thread-safe."""

    def __init__(
        self,
        configuration_url: str,
        audience: str,
        freshness: Freshness,
        *,
        http: httpx.Client | None = None,
        refetch_interval: float = 10.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._configuration_url = configuration_url
        self._audience = audience
        self._freshness = freshness
        self._http = http or httpx.Client(timeout=10.0)
        self._refetch_interval = refetch_interval
        self._now = now
        self._lock = threading.Lock()
        self._cached: _Keys | None = None
        self._fetched_at = float("-inf")

    def close(self) -> None:
        self._http.close()

    def verify(self, token: str) -> SecurityEvent:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise SecurityEventRefusedError("invalid_request", "not a JWT") from None
        if header.get("alg") not in _ALGORITHMS:
            raise SecurityEventRefusedError("invalid_request", "the token must be RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise SecurityEventRefusedError("invalid_key", "the token names no key (kid)")
        keys = self._keys_with(kid)
        key = keys.keys.get(kid)
        if key is None:
            raise SecurityEventRefusedError("invalid_key", "the issuer publishes no such key")
        claims = self._decode(token, key, keys.issuer)
        return read_claims(claims, self._freshness, self._now())

    def _decode(self, token: str, key: Any, issuer: str) -> Mapping[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=_ALGORITHMS,
                audience=self._audience,
                issuer=issuer,
                options={
                    "require": ["iss", "aud", "iat", "jti"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise SecurityEventRefusedError("invalid_key", "the signature does not verify") from (
                None
            )
        except jwt.InvalidAudienceError:
            raise SecurityEventRefusedError("invalid_audience", "not for this client") from None
        except jwt.InvalidIssuerError:
            raise SecurityEventRefusedError("invalid_issuer", "not from the issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise SecurityEventRefusedError("invalid_request", f"{exc.claim} is missing") from None
        except jwt.PyJWTError:
            raise SecurityEventRefusedError("invalid_request", "the token is malformed") from None
        return claims

    def _keys_with(self, kid: str) -> _Keys:
        """The cached keys; fetched when there are none, or once more for an unknown `kid`."""
        with self._lock:
            cached = self._cached
            if cached is not None and kid in cached.keys:
                return cached
            due = time.monotonic() - self._fetched_at >= self._refetch_interval
            if cached is None or due:
                self._cached = self._fetch()
                self._fetched_at = time.monotonic()
            assert self._cached is not None
            return self._cached

    def _fetch(self) -> _Keys:
        try:
            config = self._get_json(self._configuration_url)
            issuer, jwks_uri = config["issuer"], config["jwks_uri"]
            jwks = self._get_json(str(jwks_uri))
            keys = {
                str(jwk["kid"]): RSAAlgorithm.from_jwk(jwk)
                for jwk in jwks.get("keys", [])
                if jwk.get("kty") == "RSA" and jwk.get("kid")
            }
        except (httpx.HTTPError, KeyError, TypeError, ValueError, jwt.PyJWTError) as exc:
            if self._cached is not None:
                return self._cached
            # Our side cannot check tokens now; the transmitter retries a delivery answered 5xx.
            raise KeysUnavailableError(str(exc)) from exc
        return _Keys(str(issuer), keys)

    def _get_json(self, url: str) -> dict[str, Any]:
        response = self._http.get(url)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError(f"{url} did not answer a JSON object")
        return body
