"""The sandbox's Microsoft accounts: work (Entra ID) or personal (Microsoft account), with the
mailbox limits Exchange Online applies to each (research §2).

Ids are stable: `oid` and the work tenant id derive from the address, so the same account gets
the same ids after a reset. Seeded accounts come back on reset.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from mailroute_sandbox.microsoft import CONSUMERS_TENANT_ID

Kind = Literal["work", "personal"]
MESSAGES_PER_MINUTE = 30
RECIPIENTS_PER_DAY = 10_000
MAX_CONCURRENT = 4
MAX_MESSAGE_BYTES = 35 * 1024 * 1024
_NAMESPACE = uuid.UUID("6f1c1c3e-5a0e-4c52-9d0e-6d61696c726f")


def _stable_uuid(text: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, text.lower()))


@dataclass
class MailboxLimits:
    messages_per_minute: int = MESSAGES_PER_MINUTE
    recipients_per_day: int = RECIPIENTS_PER_DAY
    max_concurrent: int = MAX_CONCURRENT
    max_message_bytes: int = MAX_MESSAGE_BYTES

    def as_json(self) -> dict[str, int]:
        return {
            "messages_per_minute": self.messages_per_minute,
            "recipients_per_day": self.recipients_per_day,
            "max_concurrent": self.max_concurrent,
            "max_message_bytes": self.max_message_bytes,
        }


@dataclass
class MsAccount:
    email: str
    name: str
    kind: Kind = "work"
    tenant_id: str | None = None
    aliases: list[str] = field(default_factory=list)
    mail_enabled: bool = True
    limits: MailboxLimits = field(default_factory=MailboxLimits)

    @property
    def key(self) -> str:
        return self.email.lower()

    @property
    def tid(self) -> str:
        if self.kind == "personal":
            return CONSUMERS_TENANT_ID
        return self.tenant_id or _stable_uuid("tenant:" + self.email.rpartition("@")[2])

    @property
    def oid(self) -> str:
        if self.kind == "personal":  # MSA object ids look like 00000000-0000-0000-xxxx-xxxxxxxxxxxx
            return "00000000-0000-0000-" + _stable_uuid("oid:" + self.key)[19:]
        return _stable_uuid("oid:" + self.key)

    @property
    def sub(self) -> str:
        """Pairwise per app in real Entra ID; here one stable value per account."""
        return _stable_uuid("sub:" + self.key).replace("-", "")[:43]

    def may_send_as(self, address: str) -> bool:
        wanted = address.lower()
        return wanted == self.key or wanted in (a.lower() for a in self.aliases)

    def as_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "name": self.name,
            "kind": self.kind,
            "tenant_id": self.tid,
            "oid": self.oid,
            "aliases": list(self.aliases),
            "mail_enabled": self.mail_enabled,
            "limits": self.limits.as_json(),
        }


SEEDED: tuple[MsAccount, ...] = (
    MsAccount("owner@contoso-sandbox.test", "Contoso Owner"),
    MsAccount("billing@contoso-sandbox.test", "Contoso Billing"),
    MsAccount("someone@outlook-sandbox.test", "Some One", kind="personal"),
)


class MsAccountBook:
    """Thread-safe registry of Microsoft accounts, keyed by lower-cased address."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[str, MsAccount] = {}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._accounts = {a.key: replace(a, aliases=[], limits=MailboxLimits()) for a in SEEDED}

    def get(self, email: str) -> MsAccount | None:
        with self._lock:
            return self._accounts.get(email.lower())

    def ensure(self, email: str) -> MsAccount:
        """The account, created as a work account when first typed on the consent page."""
        with self._lock:
            found = self._accounts.get(email.lower())
            if found is None:
                name = email.split("@", 1)[0].replace(".", " ").title()
                found = MsAccount(email=email, name=name)
                self._accounts[found.key] = found
            return found

    def add(self, account: MsAccount) -> MsAccount:
        with self._lock:
            self._accounts[account.key] = account
            return account

    def all(self) -> list[MsAccount]:
        with self._lock:
            return list(self._accounts.values())

    def update(self, email: str, **changes: Any) -> MsAccount | None:
        """Set the given fields (a `MailboxLimits` field sets that limit); None values are kept."""
        with self._lock:
            found = self._accounts.get(email.lower())
            if found is None:
                return None
            for name, value in changes.items():
                if value is not None:
                    target = found.limits if hasattr(found.limits, name) else found
                    setattr(target, name, value)
            return found
