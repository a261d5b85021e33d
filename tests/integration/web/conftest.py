"""Fixtures for the web app's hardening tests: a web process of their own (so a test can read
its memory, or give it settings such as METRICS_TOKEN), beside the shared one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import psutil
import pytest

from mailroute.adapters.db.pool import Pool
from tests.stack import Process, free_port, http_ready, running

METRICS_TOKEN = "metrics-token-for-tests-0123456789"


@dataclass(frozen=True)
class WebProcess:
    url: str
    process: Process

    def rss(self) -> int:
        """The web process's resident memory, in bytes."""
        return int(psutil.Process(self.process.pid).memory_info().rss)


@pytest.fixture(scope="module")
def own_web(
    request: pytest.FixtureRequest,
    stack_env: dict[str, str],
    database: Pool,
    broker_vhost: str,
) -> Iterator[WebProcess]:
    """A web process for this test module, with METRICS_TOKEN set."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**stack_env, "WEB_PORT": str(port), "PUBLIC_BASE_URL": url}
    env["METRICS_TOKEN"] = METRICS_TOKEN
    name = "web-" + request.module.__name__.rpartition(".")[2]
    with running(Process(name, ["web"], env), http_ready(url + "/healthz")) as process:
        yield WebProcess(url, process)
