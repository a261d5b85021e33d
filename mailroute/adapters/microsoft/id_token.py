"""Verifying Microsoft's ID tokens, which msal decodes without checking their signature.

The authority's discovery document (`<authority>/v2.0/.well-known/openid-configuration`) gives
the issuer template (`https://login.microsoftonline.com/{tenantid}/v2.0` for `common`), the
signing keys' URL and the end-session endpoint. The keys are kept a few minutes and fetched
again, at most every 30 seconds, when a token names a key id not among them (Microsoft rotates
its keys). Both are fetched with the OAuth session (so the sandbox's CA file applies).

A token is valid when its RS256 signature verifies, `aud` is our client id, `exp`/`nbf`/`iat`
hold (10 s of leeway), `iss` is the template with the token's own `tid` filled in (and, for a
tenant's own authority, that tenant), and `nonce` is the one msal sent.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import jwt
import requests

from mailroute.adapters.microsoft.errors import MicrosoftGrantRefusedError, msal_errors
from mailroute.adapters.microsoft.identity import (
    IdentityRefusal,
    MicrosoftIdentity,
    expected_issuer,
    identity_from_claims,
)

KEYS_MAX_AGE_SECONDS = 300.0
DISCOVERY_MAX_AGE_SECONDS = 3600.0
REFETCH_AT_MOST_EVERY_SECONDS = 30.0
LEEWAY_SECONDS = 10


def nonce_hash(nonce: str) -> str:
    """The nonce msal puts in the authorization request (and Microsoft in the ID token): the
    SHA-256 hex digest of the one it keeps in the flow (msal `oauth2cli/oidc.py`)."""
    return hashlib.sha256(nonce.encode("ascii")).hexdigest()


def _refused(message: str) -> MicrosoftGrantRefusedError:
    return MicrosoftGrantRefusedError(message, code="id_token_invalid")


class IdTokenVerifier:
    """Safe to share between threads; `session` gives the calling thread's HTTP session."""

    def __init__(
        self, authority: str, client_id: str, *, session: Callable[[], requests.Session]
    ) -> None:
        self._authority = authority.rstrip("/")
        self._client_id = client_id
        self._session = session
        self._lock = threading.Lock()
        self._discovery: tuple[float, Mapping[str, Any]] | None = None
        self._keys: tuple[float, dict[str, jwt.PyJWK]] | None = None

    def _get_json(self, url: str, what: str) -> Mapping[str, Any]:
        with msal_errors(what):
            response = self._session().get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            body = response.json()
        if not isinstance(body, dict):
            raise _refused(f"the authority's {what} is not a JSON object")
        return body

    def discovery(self) -> Mapping[str, Any]:
        with self._lock:
            if (
                self._discovery
                and time.monotonic() - self._discovery[0] < DISCOVERY_MAX_AGE_SECONDS
            ):
                return self._discovery[1]
        url = self._authority + "/v2.0/.well-known/openid-configuration"
        document = self._get_json(url, "discovery document")
        with self._lock:
            self._discovery = (time.monotonic(), document)
        return document

    def end_session_endpoint(self) -> str:
        endpoint = self.discovery().get("end_session_endpoint")
        return str(endpoint) if endpoint else self._authority + "/oauth2/v2.0/logout"

    def _key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            keys = self._keys
        if keys is not None:
            age = time.monotonic() - keys[0]
            if kid in keys[1] and age < KEYS_MAX_AGE_SECONDS:
                return keys[1][kid]
            if age < REFETCH_AT_MOST_EVERY_SECONDS:  # just fetched: no new keys yet
                if kid in keys[1]:
                    return keys[1][kid]
                raise _refused("the ID token is signed with a key the authority does not publish")
        jwks_uri = str(self.discovery().get("jwks_uri") or "")
        if not jwks_uri:
            raise _refused("the authority publishes no signing keys (jwks_uri)")
        document = self._get_json(jwks_uri, "signing keys")
        found: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []) or []:
            if isinstance(entry, dict) and entry.get("kid") and entry.get("kty") == "RSA":
                try:
                    found[str(entry["kid"])] = jwt.PyJWK.from_dict(entry, algorithm="RS256")
                except jwt.PyJWTError:
                    continue
        with self._lock:
            self._keys = (time.monotonic(), found)
        if kid not in found:
            raise _refused("the ID token is signed with a key the authority does not publish")
        return found[kid]

    def claims(self, id_token: str, *, nonce: str) -> Mapping[str, Any]:
        """The verified claims; raises MicrosoftGrantRefusedError(id_token_invalid)."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise _refused("the ID token is not a JWT") from exc
        if header.get("alg") != "RS256" or not header.get("kid"):
            raise _refused("the ID token is not signed with RS256 and a key id")
        key = self._key(str(header["kid"]))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key.key,
                algorithms=["RS256"],
                audience=self._client_id,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "tid", "nonce"]},
            )
        except jwt.PyJWTError as exc:
            raise _refused(f"the ID token is not valid ({type(exc).__name__})") from exc
        template = str(self.discovery().get("issuer") or "")
        tid = str(claims["tid"])
        if not template or claims["iss"] != expected_issuer(template, tid):
            raise _refused("the ID token was issued by another authority or tenant")
        if claims["nonce"] != nonce:
            raise _refused("the ID token answers another sign-in (nonce)")
        return claims

    def identity(self, id_token: str, *, nonce: str) -> MicrosoftIdentity:
        claims = self.claims(id_token, nonce=nonce)
        try:
            return identity_from_claims(claims)
        except IdentityRefusal as exc:
            raise MicrosoftGrantRefusedError(
                f"Microsoft 365 was not connected: {exc}. Sign in with an account that has a"
                " mailbox.",
                code="email_invalid",
            ) from exc
