"""The authorization endpoint: validate as Microsoft does, show a consent page, redirect.

`GET /{tenant}/oauth2/v2.0/authorize` renders the account picker and the permissions asked
(template `microsoft_consent.html`); its form posts back to the same path. `approve` is shared
with the `/_sandbox/microsoft/accounts/{email}/approve` control, so tests need no browser.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import structlog

from mailroute_sandbox.consent import AuthRequestError
from mailroute_sandbox.microsoft import scopes
from mailroute_sandbox.microsoft.accounts import MsAccount
from mailroute_sandbox.microsoft.state import MicrosoftState
from mailroute_sandbox.microsoft.tokens import MsAuthCode, MsTokenStore

log = structlog.get_logger(__name__)
AUTH_PARAMS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "login_hint",
    "prompt",
    "client_info",
)
DECLINED = "AADSTS65004: User declined to consent to access the app."


@dataclass(frozen=True)
class MsAuthRequest:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str
    nonce: str | None
    login_hint: str | None
    prompt: str | None
    client_info: bool
    form_post: bool = False

    def hidden_fields(self) -> dict[str, str]:
        fields = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": scopes.text(self.scopes),
            "state": self.state,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
            "nonce": self.nonce,
            "login_hint": self.login_hint,
            "prompt": self.prompt,
            "client_info": "1" if self.client_info else None,
            "response_mode": "form_post" if self.form_post else None,
        }
        return {key: value for key, value in fields.items() if value is not None}


def _refuse(code: int, text: str) -> AuthRequestError:
    return AuthRequestError("invalid_request", f"AADSTS{code}: {text}")


def parse_auth_request(ms: MicrosoftState, params: dict[str, str]) -> MsAuthRequest:
    """Validate before showing anything; raise `AuthRequestError` (an error page) if invalid."""
    client_id = params.get("client_id", "")
    if client_id != ms.client_id:
        raise AuthRequestError(
            "unauthorized_client",
            f"AADSTS700016: Application with identifier '{client_id}' was not found in the "
            "directory.",
        )
    redirect_uri = params.get("redirect_uri", "")
    if not ms.redirect_uri_allowed(redirect_uri):
        raise _refuse(
            50011,
            f"The redirect URI '{redirect_uri}' specified in the request does not match the "
            f"redirect URIs configured for the application '{client_id}'.",
        )
    response_type = params.get("response_type", "")
    if response_type != "code":
        raise _refuse(
            700054, f"response_type '{response_type}' is not enabled for the application."
        )
    asked = scopes.normalise(params.get("scope", "").split())
    if not asked:
        raise _refuse(900144, "The request body must contain the following parameter: 'scope'.")
    challenge = params.get("code_challenge", "")
    if not challenge or params.get("code_challenge_method", "") != "S256":
        raise _refuse(
            9002325,
            "Proof Key for Code Exchange is required for cross-origin authorization code "
            "redemption (code_challenge with code_challenge_method=S256).",
        )
    return MsAuthRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scopes=asked,
        state=params.get("state"),
        code_challenge=challenge,
        nonce=params.get("nonce") or None,
        login_hint=params.get("login_hint") or None,
        prompt=params.get("prompt") or None,
        client_info=params.get("client_info", "") == "1",
        form_post=params.get("response_mode", "") == "form_post",
    )


def _redirect_to(redirect_uri: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return redirect_uri + separator + urlencode(params)


def denial_params(request: MsAuthRequest) -> dict[str, str]:
    params = {"error": "access_denied", "error_description": DECLINED}
    if request.state is not None:
        params["state"] = request.state
    return params


def deny(request: MsAuthRequest) -> str:
    """Cancel: `error=access_denied` with Microsoft's AADSTS65004 description."""
    return _redirect_to(request.redirect_uri, denial_params(request))


def client_info(account: MsAccount) -> str:
    data = json.dumps({"uid": account.oid, "utid": account.tid}, separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode()).rstrip(b"=").decode("ascii")


def approve(ms: MicrosoftState, request: MsAuthRequest, email: str) -> tuple[str, dict[str, str]]:
    """Issue a code for `email` (created as a work account when new): the redirect URL and its
    parameters (`code`, `client_info` when asked, `state`, `session_state`)."""
    account = ms.accounts.ensure(email.strip())
    code = ms.tokens.issue_code(
        MsAuthCode(
            code=MsTokenStore.new_code_value(),
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            account=account.key,
            scopes=request.scopes,
            code_challenge=request.code_challenge,
            nonce=request.nonce,
        )
    )
    params = {"code": code}
    if request.client_info:
        params["client_info"] = client_info(account)
    if request.state is not None:
        params["state"] = request.state
    params["session_state"] = str(uuid.UUID(bytes=secrets.token_bytes(16)))
    log.info("sandbox.microsoft.approved", account=account.key)
    return _redirect_to(request.redirect_uri, params), params


def page_context(ms: MicrosoftState, request: MsAuthRequest, action: str) -> dict[str, object]:
    """What `microsoft_consent.html` shows: accounts, the permissions asked, hidden fields."""
    accounts = ms.accounts.all()
    hint = (request.login_hint or "").lower()
    known = {a.key for a in accounts}
    selected = hint if hint in known else (accounts[0].key if accounts and not hint else "")
    return {
        "action": action,
        "accounts": [
            {
                "email": a.email,
                "name": a.name,
                "kind": a.kind,
                "dom_id": "account-" + "".join(c if c.isalnum() else "-" for c in a.key),
                "checked": a.key == selected,
            }
            for a in accounts
        ],
        "typed_email": request.login_hint if hint and hint not in known else "",
        "permissions": [scopes.describe(s) for s in request.scopes],
        "hidden": request.hidden_fields(),
    }
