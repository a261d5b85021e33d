"""`SandboxClient`: a small typed httpx client for the sandbox's /_sandbox/ controls (for tests).

For example `SandboxClient(base_url).add_fault(429, count=2, account="owner@acme-sandbox.test")`
then, after the code under test ran, `.gmail_sent("owner@acme-sandbox.test")` and `.counters()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import httpx

from mailroute_sandbox.microsoft.client import MicrosoftControls

JsonDict = dict[str, Any]


class SandboxClient(MicrosoftControls):
    """Thin wrapper: one method per control endpoint; raises `httpx.HTTPStatusError` on refusal."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + "/_sandbox", timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SandboxClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> JsonDict:
        response = self._http.request(method, path, **kwargs)
        response.raise_for_status()
        body: JsonDict = response.json()
        return body

    # -- whole sandbox -------------------------------------------------------------------------
    def health(self) -> bool:
        return bool(self._call("GET", "/health")["ok"])

    def reset(self) -> None:
        self._call("POST", "/reset")

    def counters(self) -> JsonDict:
        return self._call("GET", "/counters")

    def settings(self, **changes: Any) -> JsonDict:
        """Read the settings, or change some (`access_token_lifetime`, `gmail_latency_ms`, ...)."""
        if changes:
            return self._call("POST", "/settings", json=changes)
        return self._call("GET", "/settings")

    def add_redirect_uris(self, uris: Sequence[str]) -> list[str]:
        found: list[str] = self._call("POST", "/redirect-uris", json={"uris": list(uris)})[
            "redirect_uris"
        ]
        return found

    # -- SMTP sink -----------------------------------------------------------------------------
    def smtp_messages(self, rcpt: str | None = None, *, content: bool = True) -> list[JsonDict]:
        params: dict[str, str] = {"content": "true" if content else "false"}
        if rcpt is not None:
            params["rcpt"] = rcpt
        messages: list[JsonDict] = self._call("GET", "/smtp/messages", params=params)["messages"]
        return messages

    def clear_smtp(self) -> None:
        self._call("DELETE", "/smtp/messages")

    def smtp_fail_next(
        self,
        count: int = 1,
        code: int = 451,
        message: str = "4.3.0 Temporary failure injected by the sandbox",
        *,
        mode: str = "reply",
        stage: str = "data",
    ) -> None:
        self._call(
            "POST",
            "/smtp/fail-next",
            json={"count": count, "code": code, "message": message, "mode": mode, "stage": stage},
        )

    # -- accounts and tokens -------------------------------------------------------------------
    def accounts(self) -> list[JsonDict]:
        found: list[JsonDict] = self._call("GET", "/accounts")["accounts"]
        return found

    def account(self, email: str) -> JsonDict:
        return self._call("GET", f"/accounts/{email}")

    def add_account(self, email: str, **fields: Any) -> JsonDict:
        return self._call("POST", "/accounts", json={"email": email, **fields})

    def set_limits(self, email: str, **limits: Any) -> JsonDict:
        """`quota_units_per_minute`, `send_cost_units`, `daily_send_limit`,
        `max_concurrent_sends`, `email_verified`, `aliases`."""
        return self._call("POST", f"/accounts/{email}/limits", json=limits)

    def user_revokes(self, email: str) -> JsonDict:
        return self._call("POST", f"/accounts/{email}/revoke")

    def invalidate(
        self,
        email: str,
        reason: str = "expired_or_revoked",
        *,
        refresh_token: str | None = None,
        expire_access_tokens: bool = False,
    ) -> JsonDict:
        return self._call(
            "POST",
            f"/accounts/{email}/invalidate",
            json={
                "reason": reason,
                "refresh_token": refresh_token,
                "expire_access_tokens": expire_access_tokens,
            },
        )

    def expire_access_tokens(self, account: str | None = None) -> int:
        return int(self._call("POST", "/tokens/expire", json={"account": account})["expired"])

    def set_scopes(
        self, scopes: Sequence[str], *, account: str | None = None, token: str | None = None
    ) -> int:
        body = {"scopes": list(scopes), "account": account, "token": token}
        return int(self._call("POST", "/tokens/scopes", json=body)["changed"])

    def approve(
        self,
        auth_url: str,
        account: str = "owner@acme-sandbox.test",
        *,
        grant_send: bool = True,
        action: str = "allow",
        extra_scopes: Sequence[str] = (),
    ) -> JsonDict:
        """Click Allow (or Cancel) on the consent page for `auth_url`; returns `redirect_url`,
        `code`, `scope`, `state`. `extra_scopes` are granted on top of those asked for."""
        return self._call(
            "POST",
            "/oauth/approve",
            json={
                "auth_url": auth_url,
                "account": account,
                "grant_send": grant_send,
                "action": action,
                "extra_scopes": list(extra_scopes),
            },
        )

    def issued(self, account: str) -> dict[str, list[str]]:
        """Every `codes`, `code_verifiers`, `refresh_tokens`, `access_tokens`, `id_tokens`
        value the sandbox issued to (or was shown for) `account`."""
        found: dict[str, list[str]] = self._call("GET", f"/accounts/{account}/issued")
        return found

    def revocations(self, account: str | None = None) -> list[JsonDict]:
        """Every call to /revoke: `account`, `token`, `token_kind`, `status`, `confirmed`."""
        params = {"account": account} if account is not None else {}
        found: list[JsonDict] = self._call("GET", "/revocations", params=params)["revocations"]
        return found

    # -- Gmail -----------------------------------------------------------------------------
    def gmail_sent(self, email: str | None = None, *, content: bool = True) -> list[JsonDict]:
        path = f"/gmail/{email}/sent" if email else "/gmail/sent"
        params = {"content": "true" if content else "false"}
        messages: list[JsonDict] = self._call("GET", path, params=params)["messages"]
        return messages

    def add_fault(
        self,
        kind: int | str,
        *,
        count: int = 1,
        target: str = "gmail",
        account: str | None = None,
        retry_after_seconds: float = 1.0,
        hang_seconds: float = 30.0,
        deliver: bool = False,
        persistent: bool = False,
        message: str | None = None,
    ) -> JsonDict:
        """Fail the next `count` calls of `target` ("gmail", "token", "revoke", or "any": Gmail
        and token) with `kind`: 401, 429, 500, 502, 503, 504, "timeout",
        "403_userRateLimitExceeded", "403_rateLimitExceeded", "400_invalidArgument" or
        "400_failedPrecondition". `persistent` fails every matching call until cleared;
        `message` replaces Google's default text."""
        body: JsonDict = {
            "kind": kind,
            "count": count,
            "target": target,
            "account": account,
            "retry_after_seconds": retry_after_seconds,
            "hang_seconds": hang_seconds,
            "deliver": deliver,
            "persistent": persistent,
        }
        if message is not None:
            body["message"] = message
        return self._call("POST", "/faults", json=body)

    def refuse_authorization(self, account: str) -> JsonDict:
        """Every Gmail call of `account` answers 401 UNAUTHENTICATED, even with a freshly
        refreshed token, until `clear_faults(account)`: Google refusing the authorization."""
        return self.add_fault(401, account=account, persistent=True)

    def faults(self) -> list[JsonDict]:
        """The pending faults, in the order they will be matched."""
        found: list[JsonDict] = self._call("GET", "/faults")["faults"]
        return found

    def clear_faults(self, account: str | None = None) -> int:
        """Drop every pending fault (or those scoped to `account`); returns how many went."""
        params = {"account": account} if account is not None else {}
        return int(self._call("DELETE", "/faults", params=params)["cleared"])
