"""`/_sandbox/risc/…`: steer and read the fake Cross-Account Protection transmitter.

Deliveries these controls make are synchronous (the answer is the receiver's); the ones the
Google controls cause (`accounts/{email}/revoke`, `invalidate`) run in the background.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from mailroute_sandbox import clock
from mailroute_sandbox.risc import EVENT, OAUTH_EVENT, iss_sub, transmitter_of

router = APIRouter(prefix="/_sandbox/risc", tags=["sandbox risc controls"])

Kind = Literal["valid", "forged", "unknown_kid", "expired", "wrong_aud", "replay"]
_OAUTH_TYPES = ("tokens-revoked", "token-revoked")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SendBody(_Body):
    kind: Kind = "valid"
    account: str | None = None  # its `sub` is the subject
    sub: str | None = None  # or this one
    event: str = "tokens-revoked"
    reason: str | None = None  # account-disabled's reason (hijacking, bulk-account)
    age_seconds: float = 3 * 86400.0  # how old an `expired` token is


class BurstBody(_Body):
    subs: list[str] = Field(min_length=1)
    count: int = Field(default=1000, ge=1, le=20000)
    replay_every: int = Field(default=5, ge=0)  # every n-th delivery replays an earlier token
    concurrency: int = Field(default=16, ge=1, le=64)
    event: str = "tokens-revoked"


class StreamBody(_Body):
    url: str | None
    events: list[str] = Field(default_factory=list)


def _event_uri(name: str) -> str:
    if name.startswith("https://"):
        return name
    return (OAUTH_EVENT if name in _OAUTH_TYPES else EVENT) + name


def _sub(request: Request, body: SendBody) -> str:
    if body.sub is not None:
        return body.sub
    account = request.app.state.sandbox.accounts.get(body.account or "")
    if account is None:
        raise HTTPException(404, "give a known account or a sub")
    return str(account.sub)


@router.post("/stream")
def set_stream(body: StreamBody, request: Request) -> dict[str, Any]:
    """Configure the stream without the RISC API (the API does the same, as Google's)."""
    transmitter = transmitter_of(request)
    transmitter.configure(body.url, [_event_uri(e) for e in body.events])
    return transmitter.stream()


@router.post("/send")
def send(body: SendBody, request: Request) -> dict[str, Any]:
    """Deliver one token now: a valid one, or one the receiver must refuse or ignore."""
    transmitter = transmitter_of(request)
    if body.kind == "replay":
        last = transmitter.last_token
        if last is None:
            raise HTTPException(409, "nothing was delivered yet")
        token, first = last
        replayed = {"jti": first.jti, "events": {t: {} for t in first.event_types}}
        return transmitter.deliver(token, replayed, "replay").as_json()
    payload: dict[str, Any] = iss_sub(_sub(request, body))
    if body.reason is not None:
        payload["reason"] = body.reason
    claims = transmitter.claims({_event_uri(body.event): payload})
    if body.kind == "expired":
        claims["iat"] = int(clock.now() - body.age_seconds)
    if body.kind == "wrong_aud":
        claims["aud"] = "someone-else.apps.googleusercontent.com"
    if body.kind == "forged":
        # The published kid, another key's signature.
        _, payload_part, signature = transmitter.stranger.sign(claims).split(".")
        real_header = transmitter.keys.sign(claims).split(".")[0]
        token = ".".join((real_header, payload_part, signature))
    elif body.kind == "unknown_kid":
        token = transmitter.stranger.sign(claims)
    else:
        token = transmitter.keys.sign(claims)
    return transmitter.deliver(token, claims, body.kind).as_json()


@router.post("/burst")
def burst(body: BurstBody, request: Request) -> dict[str, Any]:
    """`count` deliveries at once, over the `subs` in turn; every `replay_every`-th delivery
    resends an earlier token (a duplicate the receiver must not process twice)."""
    transmitter = transmitter_of(request)
    event = _event_uri(body.event)
    tokens: list[tuple[str, dict[str, Any]]] = []
    plan: list[int] = []
    for n in range(body.count):
        if body.replay_every and n % body.replay_every == body.replay_every - 1 and tokens:
            plan.append(n % len(tokens))
            continue
        claims = transmitter.claims({event: iss_sub(body.subs[n % len(body.subs)])})
        tokens.append((transmitter.keys.sign(claims), claims))
        plan.append(len(tokens) - 1)
    seen: set[int] = set()
    jobs: list[tuple[str, dict[str, Any], str]] = []
    for index in plan:
        token, claims = tokens[index]
        jobs.append((token, claims, "replay" if index in seen else "valid"))
        seen.add(index)
    with ThreadPoolExecutor(max_workers=body.concurrency) as pool:
        done = list(pool.map(lambda job: transmitter.deliver(*job), jobs))
    statuses = Counter(str(d.status if d.status is not None else d.error) for d in done)
    return {
        "sent": len(done),
        "unique": len(tokens),
        "jtis": [claims["jti"] for _, claims in tokens],
        "statuses": dict(statuses),
    }


@router.get("/deliveries")
def deliveries(request: Request) -> dict[str, Any]:
    """Every delivery (background ones included), with the receiver's answer, in order."""
    transmitter = transmitter_of(request)
    return {"deliveries": [d.as_json() for d in list(transmitter.deliveries)]}


@router.post("/reset")
def reset(request: Request) -> dict[str, bool]:
    """No receiver, no event types, no deliveries (the signing key stays)."""
    transmitter_of(request).reset()
    return {"ok": True}
