"""Running mailroute's real processes for tests: the sandbox, workers, the web app, the clock.

Each is a child process started from the installed `mailroute` command with the test settings in
its environment, so tests exercise exactly what `make run` runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
MAILROUTE = str(Path(sys.executable).with_name("mailroute"))
# One id per test session: names its database, its vhost and its log folder.
RUN_ID = os.environ.get("MAILROUTE_TEST_RUN_ID") or uuid.uuid4().hex[:8]
LOG_DIR = Path(__file__).resolve().parent.parent / ".run" / "test-logs" / RUN_ID


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    check: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last_error = exc
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or check!r}"
                + (f" (last error: {last_error!r})" if last_error else "")
            )
        time.sleep(interval)


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict[str, str]
    program: str = MAILROUTE
    popen: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=Path)
    _log: Any = None

    def start(self) -> Process:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{self.name}.log"
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            [self.program, *self.args],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (dramatiq forks worker processes)."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.popen is None:
            return None
        self.kill(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            return self.popen.wait(10)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def http_ready(url: str) -> Callable[[], bool]:
    def check() -> bool:
        with httpx.Client(timeout=1.0) as client:
            return client.get(url).status_code == 200

    return check


@contextlib.contextmanager
def running(
    process: Process, ready: Callable[[], Any] | None, timeout: float = 30.0
) -> Iterator[Process]:
    process.start()
    try:
        if ready is not None:
            try:
                wait_for(ready, timeout=timeout, what=f"{process.name} to be ready")
            except AssertionError:
                raise AssertionError(
                    f"{process.name} did not start:\n{process.log_tail()}"
                ) from None
        yield process
    finally:
        process.stop()
