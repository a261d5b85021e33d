"""How strong mailroute's own secrets must be once real Google credentials are configured.

SECRET_KEY signs the OAuth state and the browser sessions: it must be at least 32 characters
with an estimated 90 bits of entropy (the Shannon entropy of its characters times its length:
a typo, a word repeated or a placeholder falls short; `secrets.token_urlsafe(32)`,
`secrets.token_hex(16)` and `mailroute tokens new-key` always pass).

TOKEN_ENCRYPTION_KEYS encrypt the Google tokens at rest: each must be a Fernet key, 32 bytes in
url-safe base64 (44 characters ending in `=`), and with real credentials those bytes must look
random (an estimated 130 bits over the 32 bytes: 32 random bytes score 139 or more; text such as
`0123456789abcdef0123456789abcdef` scores 128) and must not be the development key.

An estimate cannot prove randomness: it refuses the secrets people type, not every weak one.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Sequence

SECRET_KEY_MIN_LENGTH = 32
SECRET_KEY_MIN_BITS = 90.0
TOKEN_KEY_MIN_BITS = 130.0
_FERNET_KEY = re.compile(r"^[A-Za-z0-9_-]{43}=$")
MAKE_SECRET_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105
MAKE_TOKEN_KEY = "mailroute tokens new-key"  # noqa: S105 - a command


def estimated_bits(value: Sequence[object]) -> float:
    """Shannon entropy of the symbols' frequencies, times the length."""
    if not value:
        return 0.0
    counts = Counter(value)
    total = len(value)
    return max(0.0, -sum(n / total * math.log2(n / total) for n in counts.values()) * total)


def secret_key_problem(secret_key: str) -> str | None:
    """Why SECRET_KEY is too weak to sign real sessions, or None."""
    bits = estimated_bits(secret_key)
    if len(secret_key) < SECRET_KEY_MIN_LENGTH or bits < SECRET_KEY_MIN_BITS:
        length = f"{len(secret_key)} character{'' if len(secret_key) == 1 else 's'}"
        return (
            f"too weak ({length}, about {bits:.0f} bits of entropy): use at"
            f" least {SECRET_KEY_MIN_LENGTH} random characters with {SECRET_KEY_MIN_BITS:.0f}"
            f" bits or more, e.g. from {MAKE_SECRET_KEY}"
        )
    return None


def token_key_bytes(key: str) -> bytes | None:
    """The 32 bytes of a well-formed Fernet key, or None."""
    if not _FERNET_KEY.match(key):
        return None
    try:
        raw = base64.urlsafe_b64decode(key)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def token_keys_problems(keys: Sequence[str], *, strict: bool, dev_key: str) -> list[str]:
    """Why TOKEN_ENCRYPTION_KEYS are malformed (always) or weak (`strict`: real Google)."""
    found: list[str] = []
    for number, key in enumerate(keys, start=1):
        where = f"key {number} of {len(keys)}"
        raw = token_key_bytes(key)
        if raw is None:
            found.append(
                f"{where} is not a Fernet key (32 bytes in url-safe base64: 44 characters"
                f" ending in '='); make one with `{MAKE_TOKEN_KEY}`"
            )
        elif strict and key == dev_key:
            found.append(f"{where} is the development key; make one with `{MAKE_TOKEN_KEY}`")
        elif strict and estimated_bits(raw) < TOKEN_KEY_MIN_BITS:
            found.append(
                f"{where} is not random ({estimated_bits(raw):.0f} bits estimated over its 32"
                f" bytes, {TOKEN_KEY_MIN_BITS:.0f} needed); make one with `{MAKE_TOKEN_KEY}`"
            )
    return found
