"""Google's RISC management API (`stream:update`, `stream`, `stream:verify`), called as a
service account with roles/riscconfigs.admin: each call carries a JWT the service account signs
itself (RS256, `kid` = its `private_key_id`, `aud` = the RiscManagementService, one hour).

With the sandbox and no service-account file, a throwaway key signs: the sandbox checks the
token's audience only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from mailroute.config.risc_settings import RISC_API_AUDIENCE, RiscSettings
from mailroute.core.risc import PUSH_DELIVERY

SANDBOX_SERVICE_ACCOUNT = "mailroute-risc@mailroute-sandbox.iam.gserviceaccount.com"


class RiscApiError(RuntimeError):
    """The RISC API refused a call, or could not be reached; the message says which."""


def service_account_signer(risc: RiscSettings) -> Callable[[], str]:
    """A function minting the service account's JWT for the RISC API."""
    if risc.service_account_file:
        try:
            info = json.loads(Path(risc.service_account_file).read_text())
            email, key_id = info["client_email"], info["private_key_id"]
            key: Any = info["private_key"]
        except (OSError, ValueError, KeyError) as exc:
            raise RiscApiError(
                f"GOOGLE_RISC_SERVICE_ACCOUNT_FILE: not a service account key file ({exc})"
            ) from None
    elif risc.uses_sandbox:
        email, key_id = SANDBOX_SERVICE_ACCOUNT, "sandbox"
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise RiscApiError(
            "GOOGLE_RISC_SERVICE_ACCOUNT_FILE: set it to the JSON key of a service account"
            " with the RISC Configuration Admin role (roles/riscconfigs.admin)"
        )

    def mint() -> str:
        now = int(time.time())
        claims = {
            "iss": email,
            "sub": email,
            "aud": RISC_API_AUDIENCE,
            "iat": now,
            "exp": now + 3600,
        }
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": key_id})

    return mint


class RiscStreamApi:
    def __init__(
        self,
        api_root: str,
        token: Callable[[], str],
        *,
        http: httpx.Client | None = None,
    ) -> None:
        self._root = api_root.rstrip("/") + "/v1beta/"
        self._token = token
        self._http = http or httpx.Client(timeout=30.0)

    def close(self) -> None:
        self._http.close()

    def configure(self, receiver_url: str, event_types: Sequence[str]) -> dict[str, Any]:
        """Point the stream at `receiver_url` for `event_types`; the configuration after."""
        self._call(
            "POST",
            "stream:update",
            {
                "delivery": {"delivery_method": PUSH_DELIVERY, "url": receiver_url},
                "events_requested": list(event_types),
            },
        )
        return self.read()

    def read(self) -> dict[str, Any]:
        return self._call("GET", "stream", None)

    def verify(self, state: str) -> dict[str, Any]:
        """Ask Google to send a verification event carrying `state` to the receiver."""
        return self._call("POST", "stream:verify", {"state": state})

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token()}"}
        try:
            response = self._http.request(method, self._root + path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RiscApiError(f"the RISC API could not be reached: {exc}") from exc
        if response.status_code >= 400:
            raise RiscApiError(
                f"the RISC API answered {response.status_code}: {response.text[:500]}"
            )
        if not response.content:
            return {}
        found = response.json()
        return found if isinstance(found, dict) else {}
