"""How the Microsoft contract tests talk to the sandbox, as mailroute's adapters will: the real
msal `ConfidentialClientApplication` on `<sandbox>/common` with instance discovery off and a
`requests.Session` trusting the sandbox CA; Graph over the same HTTPS listener.

`trust_env = False` on the session: `REQUESTS_CA_BUNDLE` (set on many machines, this one too)
overrides `Session.verify` in requests, so a session that must trust one CA ignores the environment.
"""

from __future__ import annotations

import base64
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import jwt
import msal
import requests

from mailroute_sandbox.client import SandboxClient
from mailroute_sandbox.microsoft import MICROSOFT_SANDBOX_CLIENT_ID, MICROSOFT_SANDBOX_CLIENT_SECRET
from mailroute_sandbox.server import SandboxServer

OWNER = "owner@contoso-sandbox.test"
REDIRECT_URI = "http://127.0.0.1:8000/oauth/microsoft/callback"
SCOPES = ["Mail.Send"]


@dataclass
class Microsoft:
    """The sandbox's Microsoft side as a test sees it."""

    server: SandboxServer
    controls: SandboxClient
    http: requests.Session

    @property
    def authority(self) -> str:
        return self.server.microsoft_base_url + "/common"

    @property
    def graph_root(self) -> str:
        return self.server.microsoft_base_url + "/graph/v1.0"

    def app(
        self,
        cache: msal.SerializableTokenCache | None = None,
        secret: str = MICROSOFT_SANDBOX_CLIENT_SECRET,
    ) -> msal.ConfidentialClientApplication:
        return msal.ConfidentialClientApplication(
            MICROSOFT_SANDBOX_CLIENT_ID,
            client_credential=secret,
            authority=self.authority,
            instance_discovery=False,
            http_client=self.http,
            token_cache=cache,
        )

    def sign_in(
        self,
        app: msal.ConfidentialClientApplication,
        account: str = OWNER,
        scopes: list[str] | None = None,
    ) -> dict[str, Any]:
        """The whole auth-code flow: initiate, Accept on the consent page (the control), redeem."""
        flow = app.initiate_auth_code_flow(
            scopes or SCOPES, redirect_uri=REDIRECT_URI, response_mode="form_post"
        )
        answer = self.controls.ms_approve(account, flow["auth_uri"])
        result: dict[str, Any] = app.acquire_token_by_auth_code_flow(flow, answer["params"])
        return result

    def token(self, account: str = OWNER, scopes: list[str] | None = None) -> str:
        result = self.sign_in(self.app(), account, scopes)
        return str(result["access_token"])

    def graph(
        self, method: str, path: str, token: str, *, body: bytes | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        if body is not None:
            headers.setdefault("Content-Type", "text/plain")
        return self.http.request(
            method, self.graph_root + path, data=body, headers=headers, timeout=60, **kwargs
        )

    def send_mime(self, token: str, raw: bytes) -> requests.Response:
        return self.graph("POST", "/me/sendMail", token, body=base64.b64encode(raw))

    def verified_claims(self, id_token: str) -> dict[str, Any]:
        """The ID token's claims, its RS256 signature checked against the sandbox's JWKS."""
        jwks = self.http.get(self.server.microsoft_base_url + "/common/discovery/v2.0/keys")
        kid = jwt.get_unverified_header(id_token)["kid"]
        [key] = [k for k in jwks.json()["keys"] if k["kid"] == kid]
        claims: dict[str, Any] = jwt.decode(
            id_token,
            jwt.PyJWK(key).key,
            algorithms=["RS256"],
            audience=MICROSOFT_SANDBOX_CLIENT_ID,
        )
        return claims


def mime_message(
    *,
    sender: str = OWNER,
    to: str = "customer@example.test",
    subject: str = "Invoice 42",
    attachments: dict[str, bytes] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = f"Contoso Billing <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = "<invoice-42@mailroute.test>"
    message["Date"] = "Tue, 01 Dec 2026 18:00:00 +0000"
    message.set_content("Please find the invoice attached.\n")
    for name, data in (attachments or {}).items():
        message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return message.as_bytes(policy=email.policy.SMTP)


def graph_error(response: requests.Response) -> tuple[str, str]:
    error = response.json()["error"]
    return str(error["code"]), str(error["message"])
