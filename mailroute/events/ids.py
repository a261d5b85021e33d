"""Ids as mailroute writes them: a UUID in its one canonical form.

Python's `uuid.UUID` (and PostgreSQL) also read `urn:uuid:…`, braces, upper case and no hyphens;
mailroute answers only the canonical form (lower-case, hyphenated), so one email or company has
one id: the same event sent with its company id written two ways is one email, not two.
"""

from __future__ import annotations

import re

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UUID_RULE = "uuid"
UUID_MESSAGE = "must be a UUID in canonical form (lower-case, hyphenated)"


def is_canonical_uuid(value: object) -> bool:
    return isinstance(value, str) and _CANONICAL_UUID.fullmatch(value) is not None
