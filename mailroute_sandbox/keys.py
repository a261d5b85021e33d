"""The sandbox's ID-token signing key: an RSA key and self-signed certificate made at startup.

Served as `{kid: PEM}` (what google-auth's `verify_token` reads from /oauth2/v1/certs) and as a
JWKS (/oauth2/v3/certs); `sign` makes an RS256 JWT carrying that `kid`.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint_b64url(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class SigningKeys:
    """One RSA-2048 key pair with its certificate and key id."""

    def __init__(self) -> None:
        self.kid = secrets.token_hex(20)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox.accounts.google.test")])
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(self._key, hashes.SHA256())
        )

    def certs_pem(self) -> dict[str, str]:
        pem = self._cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
        return {self.kid: pem}

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        numbers = self._key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": self.kid,
                    "n": _uint_b64url(numbers.n),
                    "e": _uint_b64url(numbers.e),
                }
            ]
        }

    def sign(self, payload: dict[str, Any]) -> str:
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload)
        ).encode("ascii")
        signature = self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode("ascii") + "." + _b64url(signature)
