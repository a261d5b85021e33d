"""A PostgreSQL cluster and a RabbitMQ node of the chaos tests' own, on free ports, so stopping
and restarting them disturbs nothing else on the machine (not the session's services, not a
running `make run`)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def node_home(
    home: Path,
    node: str,
    port: int,
    dist_port: int,
    extra_config: str = "",
    extra_env: dict[str, str] | None = None,
) -> dict[str, str]:
    """Write a private node's folders and config under `home` (its own mnesia, log, plugins,
    listener on 127.0.0.1:`port`); returns the environment that starts it."""
    for folder in (home, home / "mnesia", home / "log"):
        folder.mkdir(parents=True, exist_ok=True)
    (home / "rabbitmq.conf").write_text(
        f"listeners.tcp.local = 127.0.0.1:{port}\n"
        + (extra_config.strip() + "\n" if extra_config else "")
    )
    (home / "enabled_plugins").write_text("[].\n")
    (home / "rabbitmq-env.conf").write_text(f"NODENAME={node}\nERL_EPMD_ADDRESS=127.0.0.1\n")
    if os.geteuid() == 0:
        for path in [home, *home.rglob("*")]:
            shutil.chown(path, "rabbitmq", "rabbitmq")
    return {
        **os.environ,
        "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf"),
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq.conf"),
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
        **(extra_env or {}),
    }


@contextlib.contextmanager
def private_rabbit(extra_config: str = "") -> Iterator[PrivateRabbit]:
    """A node of the test's own; `extra_config` lines are appended to its rabbitmq.conf (for
    example `max_message_size = 16777216`)."""
    home = Path(tempfile.mkdtemp(prefix="mailroute-chaos-rabbit-"))
    port, dist_port = free_port(), free_port()
    node = f"mailroute-chaos-{uuid.uuid4().hex[:6]}@localhost"
    env = node_home(home, node, port, dist_port, extra_config)
    rabbit = PrivateRabbit(port, node, home, env)
    try:
        rabbit.start()  # inside the try: a node that never came up is still stopped
        yield rabbit
    finally:
        with contextlib.suppress(AssertionError):
            rabbit.stop()
        shutil.rmtree(home, ignore_errors=True)


def rabbit_config_value(rabbit: PrivateRabbit, key: str) -> str:
    """The running node's value of `rabbit` application setting `key`, as Erlang prints it
    (e.g. `{ok,16777216}`), to check that the node took its config."""
    result = subprocess.run(
        ["rabbitmqctl", "-n", rabbit.node, "-q", "eval", f"application:get_env(rabbit, {key})."],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl eval failed: {result.stderr}{result.stdout}")
    return result.stdout.strip()


@dataclass(frozen=True)
class TracedMessage:
    """One message some client published, as RabbitMQ's firehose saw it."""

    exchange: str
    routing_keys: tuple[str, ...]
    size: int  # body length in bytes
    body: bytes
    connection: str
    actor_name: str | None  # dramatiq messages: the JSON body's actor_name and queue_name
    queue_name: str | None

    @property
    def kind(self) -> str:
        """The dramatiq actor, or `exchange:routing_key` for any other message."""
        if self.actor_name:
            return self.actor_name
        return f"{self.exchange or '(default)'}:{','.join(self.routing_keys)}"


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class Firehose:
    """RabbitMQ's firehose on a private node: every message published on the vhost is copied to
    `amq.rabbitmq.trace` with routing key `publish.<exchange>`; a queue of the test's own bound
    with `publish.#` keeps the copies until `drain` reads them.

    Deliveries are traced too (`deliver.<queue>`) but not bound here, so reading the trace queue
    adds nothing to it. The queue is neither exclusive nor auto-delete: it outlives the short
    connections that declare and read it (the node is the test's own and is deleted after)."""

    def __init__(self, rabbit: PrivateRabbit, vhost: str = "/") -> None:
        self.rabbit = rabbit
        self.vhost = vhost
        self.queue = f"test.firehose.{uuid.uuid4().hex[:8]}"

    def _connection(self) -> Any:
        import pika

        params = pika.URLParameters(self.rabbit.url)
        params.heartbeat = 0  # a reader may hold a batch for a while between reads
        return pika.BlockingConnection(params)

    def start(self) -> Firehose:
        connection = self._connection()
        try:
            channel = connection.channel()
            channel.queue_declare(self.queue, durable=False, auto_delete=False)
            channel.queue_bind(self.queue, "amq.rabbitmq.trace", routing_key="publish.#")
        finally:
            connection.close()
        result = subprocess.run(
            ["rabbitmqctl", "-n", self.rabbit.node, "-q", "trace_on", "-p", self.vhost],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl trace_on failed: {result.stderr}{result.stdout}")
        return self

    def stop(self) -> None:
        subprocess.run(
            ["rabbitmqctl", "-n", self.rabbit.node, "-q", "trace_off", "-p", self.vhost],
            capture_output=True,
            check=False,
        )

    def drain(self) -> list[TracedMessage]:
        """Every traced publish waiting in the queue (consumed: a second call sees only newer)."""
        import pika

        found: list[TracedMessage] = []
        connection = self._connection()
        try:
            channel = connection.channel()
            while True:
                method, properties, body = channel.basic_get(self.queue, auto_ack=True)
                if method is None:
                    break
                assert isinstance(properties, pika.BasicProperties)
                found.append(_traced(properties.headers or {}, body))
        finally:
            connection.close()
        return found


def _traced(headers: dict[str, Any], body: bytes) -> TracedMessage:
    actor = queue = None
    if body[:1] == b"{":
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            actor = decoded.get("actor_name")
            queue = decoded.get("queue_name")
    return TracedMessage(
        exchange=_text(headers.get("exchange_name", "")),
        routing_keys=tuple(_text(k) for k in headers.get("routing_keys") or ()),
        size=len(body),
        body=body,
        connection=_text(headers.get("connection", "")),
        actor_name=str(actor) if actor else None,
        queue_name=str(queue) if queue else None,
    )


@contextlib.contextmanager
def firehose(rabbit: PrivateRabbit, vhost: str = "/") -> Iterator[Firehose]:
    """The firehose on, with its queue bound, for the duration of the block."""
    hose = Firehose(rabbit, vhost).start()
    try:
        yield hose
    finally:
        hose.stop()
