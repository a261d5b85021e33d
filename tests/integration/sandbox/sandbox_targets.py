"""What the contract tests talk to, and how they build Google's clients exactly as the app will.

A `Target` is either the local sandbox or real Google (GOOGLE_CONTRACT_* variables). The client
builders follow research §0: the bundled Gmail discovery document with `rootUrl` moved (so the
/upload paths move too), `Credentials` built directly with `token_uri`, a `Flow` rebuilt in the
callback with the saved `state` and `code_verifier`.
"""

from __future__ import annotations

import base64
import email.policy
import json
import os
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import google.auth.transport.requests
import google_auth_httplib2
import httplib2
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build, build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError

from mailroute.config.settings import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from mailroute_sandbox.client import SandboxClient

GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
APP_SCOPES = ["openid", "email", GMAIL_SEND]
REDIRECT_URI = "http://127.0.0.1:8000/oauth/google/callback"
OWNER = "owner@acme-sandbox.test"
GOOGLE_ENV = (
    "GOOGLE_CONTRACT_CLIENT_ID",
    "GOOGLE_CONTRACT_CLIENT_SECRET",
    "GOOGLE_CONTRACT_REFRESH_TOKEN",
    "GOOGLE_CONTRACT_ACCOUNT",
)


@dataclass(frozen=True)
class Target:
    """Endpoints and client credentials of one Google (the sandbox or the real one)."""

    name: str
    auth_uri: str
    token_uri: str
    revoke_uri: str
    certs_url: str
    gmail_root: str | None  # None: Google's own root from the discovery document
    client_id: str
    client_secret: str

    def client_config(self) -> dict[str, Any]:
        return {
            "web": {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "auth_uri": self.auth_uri,
                "token_uri": self.token_uri,
            }
        }

    def credentials(self, refresh_token: str, scopes: list[str] | None = None) -> Credentials:
        """Credentials built directly, so `token_uri` stays ours (research §0.2)."""
        return Credentials(
            token=None,
            refresh_token=refresh_token,
            token_uri=self.token_uri,
            client_id=self.client_id,
            client_secret=self.client_secret,
            scopes=scopes,
        )


def sandbox_target(base_url: str) -> Target:
    return Target(
        name="sandbox",
        auth_uri=base_url + "/o/oauth2/v2/auth",
        token_uri=base_url + "/token",
        revoke_uri=base_url + "/revoke",
        certs_url=base_url + "/oauth2/v1/certs",
        gmail_root=base_url + "/",
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
    )


def google_target() -> Target | None:
    """Real Google, when every GOOGLE_CONTRACT_* variable is set."""
    if not all(os.environ.get(name) for name in GOOGLE_ENV):
        return None
    return Target(
        name="google",
        auth_uri="https://accounts.google.com/o/oauth2/v2/auth",
        token_uri="https://oauth2.googleapis.com/token",
        revoke_uri="https://oauth2.googleapis.com/revoke",
        certs_url="https://www.googleapis.com/oauth2/v1/certs",
        gmail_root=None,
        client_id=os.environ["GOOGLE_CONTRACT_CLIENT_ID"],
        client_secret=os.environ["GOOGLE_CONTRACT_CLIENT_SECRET"],
    )


_OPEN_HTTP: list[httplib2.Http] = []


def new_http(timeout: float = 10.0) -> httplib2.Http:
    """An httplib2.Http as googleapiclient's `build_http` makes it, which `close_http` closes
    after the test (it keeps sockets open).

    Gotcha: a bare `httplib2.Http` follows 308 as a redirect, but Google (and the sandbox) answer
    each intermediate chunk of a resumable upload with "308 Resume Incomplete" and no Location,
    so chunked uploads fail with RedirectMissingLocation. `build_http` removes 308; so do we.
    """
    http = httplib2.Http(timeout=timeout)
    http.redirect_codes = http.redirect_codes - {308}
    _OPEN_HTTP.append(http)
    return http


def close_http() -> None:
    while _OPEN_HTTP:
        _OPEN_HTTP.pop().close()


def token_request() -> google.auth.transport.requests.Request:
    return google.auth.transport.requests.Request()


def gmail_service(creds: Credentials, root_url: str | None, *, timeout: float = 10.0) -> Any:
    """A Gmail client over a fresh httplib2.Http, as the app builds one per job."""
    authed = google_auth_httplib2.AuthorizedHttp(creds, http=new_http(timeout))
    if root_url is None:
        return build("gmail", "v1", http=authed, static_discovery=True)
    doc = json.loads(get_static_doc("gmail", "v1"))
    doc["rootUrl"] = doc["mtlsRootUrl"] = root_url.rstrip("/") + "/"
    return build_from_document(doc, http=authed)


def connect(
    sandbox: SandboxClient,
    target: Target,
    account: str = OWNER,
    *,
    grant_send: bool = True,
    scopes: list[str] | None = None,
    **auth_kwargs: str,
) -> Credentials:
    """The app's whole connect flow: authorization URL, consent (without a browser), callback
    with a second Flow carrying the saved state and code_verifier, code exchange."""
    wanted = scopes or APP_SCOPES
    first = Flow.from_client_config(
        target.client_config(), scopes=wanted, redirect_uri=REDIRECT_URI
    )
    auth_kwargs.setdefault("prompt", "consent")
    url, state = first.authorization_url(**auth_kwargs)
    approval = sandbox.approve(url, account, grant_send=grant_send)
    callback = Flow.from_client_config(
        target.client_config(),
        scopes=wanted,
        redirect_uri=REDIRECT_URI,
        state=state,
        code_verifier=first.code_verifier,
    )
    callback.fetch_token(authorization_response=approval["redirect_url"])
    creds: Credentials = callback.credentials
    return creds


def message_bytes(
    to: str = "customer@example.test",
    *,
    sender: str | None = OWNER,
    subject: str = "Invoice 42",
    text: str = "Please find your invoice attached.",
    attachment: bytes | None = None,
    filename: str = "invoice.pdf",
    extra_headers: dict[str, str] | None = None,
    crlf: bool = False,
) -> bytes:
    """An RFC 5322 message; `crlf` for SMTP (the Gmail client sends Python's `\\n` lines)."""
    message = EmailMessage()
    if to:
        message["To"] = to
    if sender:
        message["From"] = sender
    message["Subject"] = subject
    for name, value in (extra_headers or {}).items():
        message[name] = value
    message.set_content(text)
    if attachment is not None:
        message.add_attachment(attachment, maintype="application", subtype="pdf", filename=filename)
    return message.as_bytes(policy=email.policy.SMTP if crlf else email.policy.default)


def raw_field(data: bytes, *, padded: bool = True) -> str:
    encoded = base64.urlsafe_b64encode(data).decode("ascii")
    return encoded if padded else encoded.rstrip("=")


def error_reason(error: HttpError) -> str:
    """The legacy `errors[0].reason` (research §0.8: not `error_details` when details exist)."""
    reason: str = json.loads(error.content)["error"]["errors"][0]["reason"]
    return reason


def error_message(error: HttpError) -> str:
    message: str = json.loads(error.content)["error"]["message"]
    return message
