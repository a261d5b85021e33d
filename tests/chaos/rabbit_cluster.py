"""A RabbitMQ cluster of the test's own: three nodes on this machine, each with its own node name,
AMQP and distribution ports and data folder under one temporary folder, joined with
`rabbitmqctl join_cluster` (the nodes run as the `rabbitmq` user, so they share its Erlang
cookie, as cluster nodes must). No management plugin.

Every node is stopped when the block ends, and any node process still alive then (one that did
not stop, or never answered) is killed by the operating-system pid it reported: nothing started
here outlives the test, and nothing else on the machine is touched."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pika
from dramatiq.common import dq_name, xq_name

from mailroute.events import queues
from tests.chaos.services import PrivateRabbit, node_home
from tests.stack import free_port, wait_for

# Three Erlang VMs share two cores with everything else: no scheduler busy-waiting.
_ERL_ARGS = "+sbwt none +sbwtdcpu none +sbwtdio none"


def _node(base: Path, tag: str, index: int) -> PrivateRabbit:
    home = base / f"node{index}"
    port, dist_port = free_port(), free_port()
    node = f"mailroute-cluster-{tag}-{index}@localhost"
    env = node_home(
        home, node, port, dist_port, extra_env={"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": _ERL_ARGS}
    )
    return PrivateRabbit(port, node, home, env)


def rabbitmqctl(node: str, *args: str, timeout: float = 60) -> str:
    """`rabbitmqctl -n node -q args…`; its output, or an AssertionError with what it said."""
    done = subprocess.run(
        ["rabbitmqctl", "-n", node, "-q", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"rabbitmqctl {' '.join(args)} on {node}: {done.stderr}{done.stdout}")
    return done.stdout


@dataclass
class PrivateCluster:
    nodes: list[PrivateRabbit]
    pids: dict[str, int] = field(default_factory=dict)  # node name -> its beam pid

    def url(self, vhost: str = "%2F") -> str:
        """RABBITMQ_URL listing every node, first node first."""
        return ",".join(f"amqp://guest:guest@127.0.0.1:{n.port}/{vhost}" for n in self.nodes)

    def node(self, name: str) -> PrivateRabbit:
        return next(n for n in self.nodes if n.node == name)

    def running(self) -> list[PrivateRabbit]:
        return [n for n in self.nodes if _alive(self.pids.get(n.node))]

    def ctl(self, *args: str) -> str:
        """rabbitmqctl on a node that is up."""
        return rabbitmqctl(self.running()[0].node, *args)

    def add_vhost(self, vhost: str) -> None:
        self.ctl("add_vhost", vhost)
        self.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")

    def queues(self, vhost: str, *columns: str) -> dict[str, list[str]]:
        """`list_queues name <columns>` on the vhost: queue name -> its columns."""
        listed = self.ctl("list_queues", "-p", vhost, "--no-table-headers", "name", *columns)
        rows = [line.split("\t") for line in listed.splitlines() if "\t" in line]
        return {row[0]: row[1:] for row in rows}

    def start(self, rabbit: PrivateRabbit) -> None:
        rabbit.start()
        self.pids[rabbit.node] = _beam_pid(rabbit.node)

    def kill(self, rabbit: PrivateRabbit) -> None:
        """SIGKILL the node's Erlang VM, by the pid it reported: no shutdown at all."""
        pid = self.pids[rabbit.node]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(pid), timeout=10, what=f"{rabbit.node} to die")

    def stop(self) -> None:
        for rabbit in self.nodes:
            pid = self.pids.get(rabbit.node)
            if pid is None or _alive(pid):  # never reported its pid: stop it by name
                subprocess.run(
                    ["rabbitmqctl", "-n", rabbit.node, "-q", "stop"],
                    capture_output=True,
                    timeout=60,
                    check=False,
                )
        deadline = time.monotonic() + 30
        for pid in self.pids.values():
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _beam_pid(node: str) -> int:
    return int(rabbitmqctl(node, "eval", "os:getpid().").strip().strip('"'))


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not alive; the node is not our child, so this reads /proc.
    with contextlib.suppress(OSError):
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    return True


def our_queues(cluster: PrivateCluster, vhost: str, *columns: str) -> dict[str, list[str]]:
    """`list_queues` of every mailroute queue on the vhost (each of `queues.ALL_QUEUES` with its
    delay and dead-letter queues, all of them declared): name -> its columns."""
    listed = cluster.queues(vhost, *columns)
    names = {q for name in queues.ALL_QUEUES for q in (name, dq_name(name), xq_name(name))}
    assert names <= set(listed), f"not declared: {sorted(names - set(listed))}"
    return {name: values for name, values in listed.items() if name in names}


def leaders(cluster: PrivateCluster, vhost: str) -> collections.Counter[str]:
    """How many of our queues each node leads."""
    listed = our_queues(cluster, vhost, "leader")
    return collections.Counter(leader for (leader,) in listed.values())


def dead_letters(cluster: PrivateCluster, vhost: str) -> int:
    """Messages in the vhost's dead-letter queues."""
    listed = cluster.queues(vhost, "messages")
    return sum(int(n) for name, (n,) in listed.items() if name.endswith(".XQ"))


def drain(cluster: PrivateCluster, vhost: str, queue: str) -> list[str]:
    """Every message's first argument, taken off the queue."""
    connection = pika.BlockingConnection(
        [pika.URLParameters(u) for u in cluster.url(vhost).split(",")]
    )
    try:
        channel, found = connection.channel(), []
        while (got := channel.basic_get(queue, auto_ack=True))[0] is not None:
            found.append(json.loads(got[2])["args"][0])
        return found
    finally:
        connection.close()


@contextlib.contextmanager
def private_cluster(size: int = 3) -> Iterator[PrivateCluster]:
    """`size` nodes started side by side, the others joined to the first."""
    base = Path(tempfile.mkdtemp(prefix="mailroute-chaos-cluster-"))
    if os.geteuid() == 0:
        shutil.chown(base, "rabbitmq", "rabbitmq")
    tag = uuid.uuid4().hex[:6]
    cluster = PrivateCluster([_node(base, tag, i + 1) for i in range(size)])
    try:
        with ThreadPoolExecutor(size) as pool:
            list(pool.map(cluster.start, cluster.nodes))
        first = cluster.nodes[0].node
        for rabbit in cluster.nodes[1:]:
            rabbitmqctl(rabbit.node, "stop_app")
            rabbitmqctl(rabbit.node, "join_cluster", first)
            rabbitmqctl(rabbit.node, "start_app")
            rabbitmqctl(rabbit.node, "await_startup")
        members = rabbitmqctl(first, "eval", "length(rabbit_nodes:all_running()).").strip()
        assert members == str(size), f"the cluster has {members} running nodes, not {size}"
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
