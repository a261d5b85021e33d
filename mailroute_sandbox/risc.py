"""Google's Cross-Account Protection, faked: the RISC configuration document and its JWKS (a key
of its own), the RISC management API (`stream:update`, `stream`, `stream:verify`,
`stream/status:update`), and the transmitter that signs and POSTs Security Event Tokens to the
configured receiver, from a small pool of threads so no control call waits for the receiver.

    GET  /.well-known/risc-configuration   {"issuer": "https://accounts.google.com/", "jwks_uri"…}
    GET  /risc/v1/jwks                     the transmitter's signing key
    POST /v1beta/stream:update             Bearer <service account JWT> (only `aud` is checked)

Every delivery, with the receiver's answer, is kept for `/_sandbox/risc/deliveries`.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
from fastapi import APIRouter, HTTPException, Request

from mailroute.config.risc_settings import RISC_API_AUDIENCE
from mailroute_sandbox import clock
from mailroute_sandbox.keys import SigningKeys

ISSUER = "https://accounts.google.com/"
EVENT = "https://schemas.openid.net/secevent/risc/event-type/"
OAUTH_EVENT = "https://schemas.openid.net/secevent/oauth/event-type/"
TOKENS_REVOKED = OAUTH_EVENT + "tokens-revoked"
TOKEN_REVOKED = OAUTH_EVENT + "token-revoked"
VERIFICATION = EVENT + "verification"
CONTENT_TYPE = "application/secevent+jwt"

router = APIRouter(tags=["google risc"])


@dataclass
class Delivery:
    jti: str
    kind: str  # valid, forged, unknown_kid, expired, wrong_aud, replay, verification
    event_types: list[str]
    subject: str | None
    url: str
    status: int | None = None
    body: Any = None
    error: str | None = None
    at: float = field(default_factory=clock.now)

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class RiscTransmitter:
    """The stream's configuration, the signing key, and the deliveries made."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.keys = SigningKeys()
        self.stranger = SigningKeys()  # never published: "a key the receiver cannot know"
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="sandbox-risc")
        self._http = httpx.Client(timeout=10.0)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.url: str | None = None
            self.events_requested: list[str] = []
            self.enabled = True
            self.deliveries: list[Delivery] = []
            self.last_token: tuple[str, Delivery] | None = None

    def configure(self, url: str | None, events: list[str]) -> None:
        with self._lock:
            self.url = url
            self.events_requested = list(events)

    def stream(self) -> dict[str, Any]:
        with self._lock:
            return {
                "iss": ISSUER,
                "aud": [self.client_id],
                "delivery": {
                    "delivery_method": (
                        "https://schemas.openid.net/secevent/risc/delivery-method/push"
                    ),
                    "url": self.url,
                },
                "events_requested": list(self.events_requested),
                "events_delivered": list(self.events_requested),
                "status": "enabled" if self.enabled else "disabled",
            }

    # -- tokens --------------------------------------------------------------------------------
    def claims(self, events: dict[str, Any], *, iat: float | None = None) -> dict[str, Any]:
        return {
            "iss": ISSUER,
            "aud": self.client_id,
            "iat": int(clock.now() if iat is None else iat),
            "jti": secrets.token_hex(16),
            "events": events,
        }

    def wants(self, event_type: str) -> bool:
        with self._lock:
            wanted = event_type == VERIFICATION or event_type in self.events_requested
            return self.enabled and self.url is not None and wanted

    def emit(self, events: dict[str, Any]) -> Future[Delivery] | None:
        """Sign and deliver in the background, when the stream asks for the event."""
        if not any(self.wants(t) for t in events):
            return None
        claims = self.claims(events)
        return self._pool.submit(self.deliver, self.keys.sign(claims), claims, "valid")

    def deliver(self, token: str, claims: dict[str, Any], kind: str) -> Delivery:
        """POST one token to the receiver now and keep its answer."""
        with self._lock:
            url = self.url
        events = claims.get("events") or {}
        delivery = Delivery(
            jti=str(claims.get("jti")),
            kind=kind,
            event_types=sorted(events),
            subject=_subject(events),
            url=url or "",
        )
        if url is None:
            delivery.error = "no receiver configured"
        else:
            try:
                response = self._http.post(
                    url,
                    content=token,
                    headers={"Content-Type": CONTENT_TYPE, "Accept": "application/json"},
                )
                delivery.status = response.status_code
                delivery.body = _json_or_text(response)
            except httpx.HTTPError as exc:
                delivery.error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.deliveries.append(delivery)
            if kind != "replay":
                self.last_token = (token, delivery)
        return delivery


def _subject(events: dict[str, Any]) -> str | None:
    for body in events.values():
        subject = body.get("subject") if isinstance(body, dict) else None
        if isinstance(subject, dict):
            return subject.get("sub") or subject.get("token")
    return None


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def iss_sub(sub: str) -> dict[str, Any]:
    return {"subject": {"subject_type": "iss-sub", "iss": ISSUER, "sub": sub}}


def events_for_grant_death(reason: str, sub: str, refresh_token: str | None) -> dict[str, Any]:
    """The event Google would push when a grant dies this way (none for expiries)."""
    if reason == "revoked" and refresh_token is not None:
        subject = {
            "subject_type": "oauth_token",
            "token_type": "refresh_token",
            "token_identifier_alg": "prefix",
            "token": refresh_token[:16],
        }
        return {TOKEN_REVOKED: {"subject": subject}}
    if reason == "revoked":
        return {TOKENS_REVOKED: iss_sub(sub)}
    if reason == "password_changed":
        return {EVENT + "sessions-revoked": iss_sub(sub)}
    if reason == "account_deleted":
        return {EVENT + "account-disabled": iss_sub(sub)}
    return {}


def transmitter_of(request: Request) -> RiscTransmitter:
    return cast(RiscTransmitter, request.app.state.risc)


def grant_ended(
    request: Request, account: str, reason: str, killed: int, refresh_token: str | None = None
) -> None:
    """A control ended `killed` grants of `account`: push the matching event, if any."""
    state = request.app.state.sandbox
    found = state.accounts.get(account)
    if killed <= 0 or found is None:
        return
    events = events_for_grant_death(reason, found.sub, refresh_token)
    if events:
        transmitter_of(request).emit(events)


def _service_account(request: Request) -> None:
    """The caller's service-account JWT, loosely: its `aud` must be the RISC API's."""
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip()
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        raise HTTPException(401, "a service account JWT is required") from None
    if not isinstance(claims, dict) or claims.get("aud") != RISC_API_AUDIENCE:
        raise HTTPException(401, f"the JWT's aud must be {RISC_API_AUDIENCE}")


@router.get("/.well-known/risc-configuration")
async def configuration(request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {
        "issuer": ISSUER,
        "jwks_uri": base + "/risc/v1/jwks",
        "delivery_methods_supported": [
            "https://schemas.openid.net/secevent/risc/delivery-method/push"
        ],
        "configuration_endpoint": base + "/v1beta/stream",
    }


@router.get("/risc/v1/jwks")
async def jwks(request: Request) -> dict[str, Any]:
    return transmitter_of(request).keys.jwks()


@router.post("/v1beta/stream:update")
async def stream_update(request: Request) -> dict[str, Any]:
    _service_account(request)
    body = await request.json()
    delivery = body.get("delivery") or {}
    transmitter_of(request).configure(delivery.get("url"), list(body.get("events_requested", [])))
    return {}


@router.get("/v1beta/stream")
async def stream(request: Request) -> dict[str, Any]:
    _service_account(request)
    return transmitter_of(request).stream()


@router.post("/v1beta/stream/status:update")
async def stream_status(request: Request) -> dict[str, Any]:
    _service_account(request)
    body = await request.json()
    transmitter = transmitter_of(request)
    transmitter.enabled = body.get("status", "enabled") == "enabled"
    return {"status": "enabled" if transmitter.enabled else "disabled"}


@router.post("/v1beta/stream:verify")
async def stream_verify(request: Request) -> dict[str, Any]:
    _service_account(request)
    body = await request.json()
    transmitter_of(request).emit({VERIFICATION: {"state": str(body.get("state", ""))}})
    return {}
