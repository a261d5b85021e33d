"""google-auth's HTTP transport with a sane timeout, and a small cache of Google's ID-token
signing certificates (google-auth fetches them on every verification)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import google.auth.transport
import google.auth.transport.requests

HTTP_TIMEOUT_SECONDS = 15.0
CERTS_MAX_AGE_SECONDS = 300.0


class TimedRequest(google.auth.transport.requests.Request):
    """google-auth's requests transport with our timeout instead of its 120 seconds."""

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        return super().__call__(  # type: ignore[no-untyped-call]
            url, method, body, headers, timeout=timeout or HTTP_TIMEOUT_SECONDS, **kwargs
        )


class _CachedResponse(google.auth.transport.Response):
    def __init__(self, data: bytes) -> None:
        self._data = data

    @property
    def status(self) -> int:
        return 200

    @property
    def headers(self) -> Mapping[str, str]:
        return {"content-type": "application/json"}

    @property
    def data(self) -> bytes:
        return self._data


class CertCache:
    """Google's signing certificates, fetched at most every few minutes (google-auth fetches
    them on every verification). A stale cache is refetched once when verification fails."""

    def __init__(self, url: str, max_age: float = CERTS_MAX_AGE_SECONDS) -> None:
        self.url = url
        self._max_age = max_age
        self._lock = threading.Lock()
        self._body: bytes | None = None
        self._fetched_at = 0.0

    def fetch(self, transport: google.auth.transport.Request, *, force: bool) -> Any:
        with self._lock:
            fresh = time.monotonic() - self._fetched_at < self._max_age
            if self._body is not None and fresh and not force:
                return _CachedResponse(self._body)
        response = transport(self.url, method="GET")
        if response.status == 200:
            with self._lock:
                self._body, self._fetched_at = response.data, time.monotonic()
        return response


class CertsTransport(google.auth.transport.Request):
    """What `verify_token` calls to fetch certificates: served from the cache."""

    def __init__(
        self, cache: CertCache, transport: google.auth.transport.Request, *, force: bool
    ) -> None:
        self._cache, self._transport, self._force = cache, transport, force

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        if url == self._cache.url and method == "GET":
            return self._cache.fetch(self._transport, force=self._force)
        return self._transport(url, method=method, body=body, headers=headers, **kwargs)
