"""A PostgreSQL cluster and a RabbitMQ node of the chaos tests' own, on free ports, so stopping
and restarting them disturbs nothing else on the machine (not the session's services, not a
running `make run`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.stack import free_port, wait_for


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _as(user: str, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run as `user` when we are root (postgres and rabbitmq refuse to run as root)."""
    command = ["runuser", "-u", user, "--", *args] if os.geteuid() == 0 else args
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]


def _pg_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not versions:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    return versions[-1].parent


@dataclass
class PrivatePostgres:
    port: int
    datadir: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/mailroute"

    def start(self) -> None:
        result = _as(
            "postgres",
            [
                str(_pg_bin() / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.datadir / "server.log"),
                "-o",
                f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1",
                "start",
            ],
        )
        if result.returncode != 0:
            raise RuntimeError(f"private PostgreSQL did not start: {result.stderr}{result.stdout}")

    def stop(self, mode: str = "fast") -> None:
        _as(
            "postgres",
            [str(_pg_bin() / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"],
        )

    def restart(self, down_seconds: float = 2.0) -> None:
        self.stop("immediate")
        time.sleep(down_seconds)
        self.start()


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    datadir = Path(tempfile.mkdtemp(prefix="mailroute-chaos-pg-"))
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
    init = _as(
        "postgres",
        [
            str(_pg_bin() / "initdb"),
            "-D",
            str(datadir),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ],
    )
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stderr}")
    server = PrivatePostgres(free_port(), datadir)
    server.start()
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(datadir, ignore_errors=True)


@dataclass
class PrivateRabbit:
    port: int
    node: str
    home: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def start(self) -> None:
        subprocess.run(
            ["rabbitmq-server", "-detached"],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            check=False,
        )

        def up() -> bool:
            ready = subprocess.run(
                ["rabbitmqctl", "-n", self.node, "-q", "await_startup"],
                capture_output=True,
                check=False,
            )
            return ready.returncode == 0 and _port_open(self.port)

        wait_for(up, timeout=90, interval=0.5, what=f"RabbitMQ node {self.node}")

    def stop(self) -> None:
        subprocess.run(
            ["rabbitmqctl", "-n", self.node, "-q", "stop"], capture_output=True, check=False
        )
        wait_for(lambda: not _port_open(self.port), timeout=30, what="RabbitMQ to stop")

    def restart(self, down_seconds: float = 2.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


@contextlib.contextmanager
def private_rabbit() -> Iterator[PrivateRabbit]:
    home = Path(tempfile.mkdtemp(prefix="mailroute-chaos-rabbit-"))
    port, dist_port = free_port(), free_port()
    node = f"mailroute-chaos-{uuid.uuid4().hex[:6]}@localhost"
    (home / "mnesia").mkdir()
    (home / "log").mkdir()
    (home / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{port}\n")
    (home / "enabled_plugins").write_text("[].\n")
    (home / "rabbitmq-env.conf").write_text(f"NODENAME={node}\nERL_EPMD_ADDRESS=127.0.0.1\n")
    if os.geteuid() == 0:
        for path in [home, *home.rglob("*")]:
            shutil.chown(path, "rabbitmq", "rabbitmq")
    env = {
        **os.environ,
        "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf"),
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq.conf"),
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
    }
    rabbit = PrivateRabbit(port, node, home, env)
    rabbit.start()
    try:
        yield rabbit
    finally:
        with contextlib.suppress(AssertionError):
            rabbit.stop()
        shutil.rmtree(home, ignore_errors=True)
