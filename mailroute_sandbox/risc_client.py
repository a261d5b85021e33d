"""`RiscControls`: a small typed httpx client for `/_sandbox/risc/…` (for tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

JsonDict = dict[str, Any]


class RiscControls:
    def __init__(self, base_url: str, *, timeout: float = 120.0) -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/") + "/_sandbox/risc", timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> JsonDict:
        response = self._http.request(method, path, **kwargs)
        response.raise_for_status()
        body: JsonDict = response.json()
        return body

    def stream(self, url: str | None, events: Sequence[str] = ()) -> JsonDict:
        return self._call("POST", "/stream", json={"url": url, "events": list(events)})

    def send(self, kind: str = "valid", **fields: Any) -> JsonDict:
        """One delivery now (`kind`: valid, forged, unknown_kid, expired, wrong_aud, replay);
        the delivery with the receiver's `status` and `body`."""
        return self._call("POST", "/send", json={"kind": kind, **fields})

    def burst(self, subs: Sequence[str], **fields: Any) -> JsonDict:
        return self._call("POST", "/burst", json={"subs": list(subs), **fields})

    def deliveries(self) -> list[JsonDict]:
        found: list[JsonDict] = self._call("GET", "/deliveries")["deliveries"]
        return found

    def reset(self) -> None:
        self._call("POST", "/reset")
