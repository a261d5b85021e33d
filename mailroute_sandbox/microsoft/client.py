"""The `SandboxClient` methods for the `/_sandbox/microsoft/` controls (mixed into it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

JsonDict = dict[str, Any]


class MicrosoftControls:
    """One method per Microsoft control; the host class supplies `_call` and `_http`."""

    _http: httpx.Client

    def _call(self, method: str, path: str, **kwargs: Any) -> JsonDict:
        raise NotImplementedError

    def ms_add_account(
        self,
        email: str,
        *,
        name: str | None = None,
        kind: str = "work",
        tenant_id: str | None = None,
        aliases: Sequence[str] = (),
        mail_enabled: bool = True,
    ) -> JsonDict:
        body: JsonDict = {"email": email, "name": name, "kind": kind, "tenant_id": tenant_id}
        body |= {"aliases": list(aliases), "mail_enabled": mail_enabled}
        return self._call("POST", "/microsoft/accounts", json=body)

    def ms_accounts(self) -> list[JsonDict]:
        found: list[JsonDict] = self._call("GET", "/microsoft/accounts")["accounts"]
        return found

    def ms_account(self, email: str) -> JsonDict:
        """The account, its `usage` and its `refresh_tokens` (`token`, `replaced`, `dead`)."""
        return self._call("GET", f"/microsoft/accounts/{email}")

    def ms_approve(self, email: str, auth_url: str, *, action: str = "accept") -> JsonDict:
        """Accept (or Cancel) the consent page of `auth_url` (msal's `flow["auth_uri"]`) as
        `email`: `{"code", "redirect", "params"}`; `params` is msal's `auth_response`."""
        body = {"auth_url": auth_url, "action": action}
        return self._call("POST", f"/microsoft/accounts/{email}/approve", json=body)

    def ms_invalidate(self, email: str, reason: str) -> JsonDict:
        """`inactive`, `expired`, `revoked`, `consent_missing` or `mfa_required`: refreshing
        then answers that AADSTS code, and the account's access tokens stop working."""
        return self._call(
            "POST", f"/microsoft/accounts/{email}/invalidate", json={"reason": reason}
        )

    def ms_set_limits(self, email: str, **limits: Any) -> JsonDict:
        """`messages_per_minute`, `recipients_per_day`, `max_concurrent`, `max_message_bytes`,
        `mail_enabled`, `aliases`."""
        return self._call("POST", f"/microsoft/accounts/{email}/limits", json=limits)

    def ms_throttle(
        self,
        account: str,
        *,
        count: int = 1,
        status: int = 429,
        retry_after: int = 1,
        message: str | None = None,
    ) -> JsonDict:
        """The next `count` Graph calls of `account` answer `status` with `Retry-After`."""
        body = {"account": account, "count": count, "status": status, "retry_after": retry_after}
        if message is not None:
            body["message"] = message
        return self._call("POST", "/microsoft/throttle", json=body)

    def ms_settings(self, **changes: Any) -> JsonDict:
        """Read, or change `access_token_lifetime_seconds`, `refresh_token_lifetime_seconds`,
        `invalidate_rotated_refresh_tokens`, `graph_latency_ms`, `drafts_need_mail_readwrite`."""
        if changes:
            return self._call("POST", "/microsoft/settings", json=changes)
        return self._call("GET", "/microsoft/settings")

    def ms_expire_access_tokens(self, account: str | None = None) -> int:
        body = {"account": account}
        return int(self._call("POST", "/microsoft/tokens/expire", json=body)["expired"])

    def ms_sent(self, account: str | None = None, *, content: bool = True) -> list[JsonDict]:
        params = {"content": "true" if content else "false"}
        if account is not None:
            params["account"] = account
        found: list[JsonDict] = self._call("GET", "/microsoft/sent", params=params)["messages"]
        return found

    def ms_sign_outs(self) -> list[JsonDict]:
        found: list[JsonDict] = self._call("GET", "/microsoft/sign-outs")["sign_outs"]
        return found

    def ms_counters(self) -> JsonDict:
        return self._call("GET", "/microsoft/counters")

    def ms_ca_pem(self) -> bytes:
        response = self._http.get("/microsoft/ca.pem")
        response.raise_for_status()
        return response.content
