"""The sandbox's Google accounts: who can sign in, and each account's sending limits.

Seeded accounts are restored on reset; tests may add more or change limits at runtime.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from mailroute_sandbox.limits import AccountLimits

DEFAULT_UNITS_PER_MINUTE = 15_000
SEND_COST_UNITS = 100
DEFAULT_DAILY_SENDS = 500
DEFAULT_MAX_CONCURRENT = 10


@dataclass
class Account:
    email: str
    name: str
    email_verified: bool = True
    aliases: list[str] = field(default_factory=list)
    units_per_minute: int = DEFAULT_UNITS_PER_MINUTE
    send_cost: int = SEND_COST_UNITS
    daily_sends: int = DEFAULT_DAILY_SENDS
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    deleted: bool = False
    # The `email` claim of the account's ID tokens when it must differ from `email` (a test of
    # what a client does with an odd address); None: `email`.
    id_token_email: str | None = None

    @property
    def claimed_email(self) -> str:
        return self.email if self.id_token_email is None else self.id_token_email

    @property
    def sub(self) -> str:
        """A stable numeric subject id, like Google's 21-digit `sub`."""
        digest = hashlib.sha256(self.email.lower().encode()).hexdigest()
        return "1" + str(int(digest[:24], 16))[:20].rjust(20, "0")

    @property
    def limits(self) -> AccountLimits:
        return AccountLimits(
            units_per_minute=self.units_per_minute,
            send_cost=self.send_cost,
            daily_sends=self.daily_sends,
            max_concurrent=self.max_concurrent,
        )

    def may_send_as(self, address: str) -> bool:
        wanted = address.lower()
        return wanted == self.email.lower() or wanted in (a.lower() for a in self.aliases)

    def as_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "name": self.name,
            "email_verified": self.email_verified,
            "sub": self.sub,
            "aliases": list(self.aliases),
            "quota_units_per_minute": self.units_per_minute,
            "send_cost_units": self.send_cost,
            "daily_send_limit": self.daily_sends,
            "max_concurrent_sends": self.max_concurrent,
            "deleted": self.deleted,
            "id_token_email": self.id_token_email,
        }


SEEDED_ACCOUNTS: tuple[Account, ...] = (
    Account("owner@acme-sandbox.test", "Acme Owner"),
    Account("billing@acme-sandbox.test", "Acme Billing"),
    Account("other@example-sandbox.test", "Other Person"),
    Account("unverified@example-sandbox.test", "Unverified User", email_verified=False),
)


class AccountBook:
    """Thread-safe registry of accounts, keyed by lower-cased email."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[str, Account] = {}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._accounts = {a.email.lower(): replace(a, aliases=[]) for a in SEEDED_ACCOUNTS}

    def get(self, email: str) -> Account | None:
        with self._lock:
            return self._accounts.get(email.lower())

    def ensure(self, email: str) -> Account:
        """The account for `email`, created (verified, default limits) when typed in for the
        first time on the consent page."""
        with self._lock:
            found = self._accounts.get(email.lower())
            if found is None:
                local = email.split("@", 1)[0]
                found = Account(email=email, name=local.replace(".", " ").title())
                self._accounts[email.lower()] = found
            return found

    def add(self, account: Account) -> Account:
        with self._lock:
            self._accounts[account.email.lower()] = account
            return account

    def all(self) -> list[Account]:
        with self._lock:
            return list(self._accounts.values())

    def update(self, email: str, **changes: Any) -> Account | None:
        with self._lock:
            found = self._accounts.get(email.lower())
            if found is None:
                return None
            for key, value in changes.items():
                if value is not None:
                    setattr(found, key, value)
            return found
