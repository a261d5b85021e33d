"""POSTing a webhook with httpx, to the address the target check approved.

The connection goes to that address (the URL's host replaced by it), with the original `Host`
header and, over TLS, the original name for SNI and certificate verification: a DNS answer that
changes between the check and the connection cannot lead elsewhere. No redirect is followed (a
3xx is an answer like any other), no proxy from the environment is used, and one attempt takes
at most the connect timeout to connect and the total timeout in all (the whole exchange runs
under one deadline, so a receiver that trickles bytes cannot hold a worker). Only the first KiB
of the answer's body is read. What the receiver did never raises: it is the result.

    httpx.TimeoutException / the deadline   -> "timeout: ..."
    httpx.ConnectError                      -> "connect_error: ..." (refused, TLS, unreachable)
    any other httpx.HTTPError, OSError      -> "<kind>: ..."
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import httpx

from mailroute.core.webhook_addresses import Target
from mailroute.core.webhook_ports import AttemptResult
from mailroute.core.webhook_rules import RESPONSE_BODY_LIMIT

USER_AGENT = "mailroute-webhooks/1.0"
T = TypeVar("T")


def _run_on_a_loop_of_its_own(make: Callable[[], Awaitable[T]]) -> T:
    """`asyncio.run` of what `make` returns; in a thread of its own when the calling thread
    already runs an event loop (a worker thread runs none; an embedding program may)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_awaited(make))
    with ThreadPoolExecutor(1, thread_name_prefix="webhook-attempt") as pool:
        return pool.submit(lambda: asyncio.run(_awaited(make))).result()


async def _awaited(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


class HttpxWebhookTransport:
    def __init__(
        self, *, connect_timeout: float, total_timeout: float, tls: ssl.SSLContext | None = None
    ) -> None:
        self._connect = connect_timeout
        self._total = total_timeout
        # Certificates are verified against certifi's CA bundle (read once), or `tls`'s.
        self._tls = tls or httpx.create_ssl_context()

    def post(
        self, target: Target, address: str, headers: dict[str, str], body: bytes
    ) -> AttemptResult:
        started = time.monotonic()
        try:
            status, text = _run_on_a_loop_of_its_own(
                lambda: asyncio.wait_for(self._post(target, address, headers, body), self._total)
            )
        except TimeoutError:
            error = f"timeout: no complete answer within {self._total:g} s"
            return AttemptResult(_since(started), error=error)
        except (httpx.HTTPError, OSError) as exc:
            return AttemptResult(_since(started), error=_describe(exc))
        return AttemptResult(_since(started), status_code=status, body=text)

    async def _post(
        self, target: Target, address: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str]:
        timeout = httpx.Timeout(self._total, connect=self._connect)
        sent = {
            **headers,
            "Host": target.host_header,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        async with httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False, verify=self._tls
        ) as client:
            request = client.build_request(
                "POST", target.url_for(address), content=body, headers=sent, extensions=extensions
            )
            response = await client.send(request, stream=True)
            try:
                start = bytearray()
                async for chunk in response.aiter_bytes():
                    start += chunk
                    if len(start) >= RESPONSE_BODY_LIMIT:
                        break
            finally:
                await response.aclose()
        return response.status_code, bytes(start[:RESPONSE_BODY_LIMIT]).decode("utf-8", "replace")


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _describe(exc: BaseException) -> str:
    kind = {
        httpx.TimeoutException: "timeout",
        httpx.ConnectError: "connect_error",
        httpx.RemoteProtocolError: "protocol_error",
    }
    name = next((v for k, v in kind.items() if isinstance(exc, k)), type(exc).__name__)
    return f"{name}: {str(exc) or type(exc).__name__}"[:500]
