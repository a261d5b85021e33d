"""Tokens encrypted at rest with a key list: the first key encrypts, every key decrypts, so keys
rotate by prepending a new one and running `mailroute tokens reencrypt`."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from mailroute.core.errors import TokenDecryptionError

__all__ = ["TokenCipher", "TokenDecryptionError"]


class TokenCipher:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("TOKEN_ENCRYPTION_KEYS: at least one key is required")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except ValueError as exc:
            raise ValueError(
                "TOKEN_ENCRYPTION_KEYS: each key must be 32 url-safe base64-encoded bytes"
                " (make one with `mailroute tokens new-key`)"
            ) from exc

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(ciphertext)).decode()
        except InvalidToken as exc:
            raise TokenDecryptionError("no configured key decrypts this token") from exc

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt under the newest key."""
        try:
            return self._fernet.rotate(bytes(ciphertext))
        except InvalidToken as exc:
            raise TokenDecryptionError("no configured key decrypts this token") from exc

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()
