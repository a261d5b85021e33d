"""A PostgreSQL primary and its synchronous streaming standby, of the test's own: free ports,
temporary data and socket folders, the machine's PostgreSQL 15 binaries run as `postgres`.

Commits wait for the standby (`synchronous_standby_names`), so whatever the primary
acknowledged is on the standby when the primary dies. The settings go on each server's command
line, not into its files, so the standby does not inherit the primary's: once promoted it
commits alone, as a failover manager would reconfigure it. Only the processes started here are
ever signalled, by pid, after checking they serve this test's data folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

from tests.stack import free_port, wait_for

PG_BIN = Path("/usr/lib/postgresql/15/bin")
STANDBY_NAME = "standby"


def _as_postgres(*args: str) -> subprocess.CompletedProcess[str]:
    """PostgreSQL refuses to run as root: its tools run as the `postgres` user."""
    command = ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def _checked(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed: {result.stderr}{result.stdout}")


@dataclass
class Server:
    name: str
    port: int
    datadir: Path
    socket_dir: Path
    settings: tuple[str, ...]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = [f"-p {self.port}", f"-k {self.socket_dir}", "-c listen_addresses=127.0.0.1"]
        options += [f"-c {setting}" for setting in (f"cluster_name={self.name}", *self.settings)]
        pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-w", "-t", "60"]
        log = ["-l", str(self.datadir / "server.log")]
        _checked(
            _as_postgres(*pg_ctl, *log, "-o", " ".join(options), "start"),
            f"starting the {self.name}",
        )

    def promote(self) -> None:
        """Out of recovery, taking writes (pg_ctl waits until it does)."""
        _checked(
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-w", "promote"),
            f"promoting the {self.name}",
        )

    def processes(self) -> list[psutil.Process]:
        """The postmaster serving this data folder and its children; none when it is gone."""
        try:
            pid = int((self.datadir / "postmaster.pid").read_text().split()[0])
            postmaster = psutil.Process(pid)
            if str(self.datadir) not in " ".join(postmaster.cmdline()):
                return []  # the pid was reused by someone else's process
            return [postmaster, *postmaster.children(recursive=True)]
        except (OSError, ValueError, IndexError, psutil.Error):
            return []

    def kill(self) -> float:
        """SIGKILL to every process of this server: the postmaster is frozen first so it
        starts no child meanwhile, the children are killed before it so none of them outlives
        it long enough to say goodbye to its clients."""
        processes = self.processes()
        if not processes:
            return time.monotonic()
        with contextlib.suppress(psutil.Error):
            processes[0].send_signal(signal.SIGSTOP)
        processes = self.processes() or processes
        for process in reversed(processes):
            with contextlib.suppress(psutil.Error):
                process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        psutil.wait_procs(processes, timeout=10)
        return killed

    def remove(self) -> None:
        """Stop what still runs, and free the shared memory segment a killed postmaster leaves
        behind (its id is in the data folder's postmaster.pid)."""
        if self.processes():
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop")
        self.kill()
        with contextlib.suppress(OSError, IndexError):
            shmid = (self.datadir / "postmaster.pid").read_text().splitlines()[6].split()[1]
            subprocess.run(["ipcrm", "-m", shmid], capture_output=True, check=False)

    def in_recovery(self) -> bool:
        with psycopg.connect(self.url(), connect_timeout=2, autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        return bool(row and row[0])


@dataclass
class ReplicatedPostgres:
    primary: Server
    standby: Server

    def url(self, database: str, *, standby_first: bool = False) -> str:
        """Both hosts, primary first (or the standby first), asking for the writable one."""
        ports = [self.primary.port, self.standby.port]
        hosts = ",".join(f"127.0.0.1:{port}" for port in (ports[::-1] if standby_first else ports))
        return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write"

    def synchronous(self) -> bool:
        with psycopg.connect(self.primary.url(), connect_timeout=2, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming'"
            ).fetchall()
        return [state for (state,) in rows] == ["sync"]

    def fail_over(self, detected_after: float) -> Failover:
        """Kill the primary (SIGKILL), let `detected_after` seconds pass as a failover manager
        would, promote the standby."""
        killed_at = self.primary.kill()
        killed = Failover(killed_at, time.time() - (time.monotonic() - killed_at), 0.0)
        time.sleep(max(0.0, killed_at + detected_after - time.monotonic()))
        self.standby.promote()
        wait_for(lambda: not self.standby.in_recovery(), timeout=30, what="the promotion")
        killed.promoted = time.monotonic()
        return killed


@dataclass
class Failover:
    killed: float  # time.monotonic() when the last SIGKILL went out
    killed_wall: float  # the same moment, time.time()
    promoted: float  # time.monotonic() once the standby took writes

    @property
    def promotion_seconds(self) -> float:
        return self.promoted - self.killed


def _initdb(datadir: Path) -> None:
    _checked(
        _as_postgres(
            str(PG_BIN / "initdb"), "-D", str(datadir), "-A", "trust", "-U", "postgres", "--no-sync"
        ),
        "initdb",
    )


def _base_backup(primary: Server, datadir: Path) -> None:
    """A copy of the primary set up to stream from it (`-R`: standby.signal, primary_conninfo)."""
    _checked(
        _as_postgres(
            str(PG_BIN / "pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(datadir), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"),
        ),
        "pg_basebackup",
    )


@contextlib.contextmanager
def replicated_postgres() -> Iterator[ReplicatedPostgres]:
    root = Path(tempfile.mkdtemp(prefix="mailroute-failover-"))
    sockets = root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        for path in (root, sockets):
            shutil.chown(path, "postgres", "postgres")
    # fsync off: a killed process loses nothing the kernel holds; only a machine crash would.
    common = ("fsync=off", "max_connections=200")
    primary = Server(
        "primary",
        free_port(),
        root / "primary",
        sockets,
        (*common, f"synchronous_standby_names={STANDBY_NAME}"),
    )
    standby = Server(STANDBY_NAME, free_port(), root / "standby", sockets, common)
    try:
        _initdb(primary.datadir)
        primary.start()
        _base_backup(primary, standby.datadir)
        standby.start()
        cluster = ReplicatedPostgres(primary, standby)
        wait_for(cluster.synchronous, timeout=30, what="the standby to replicate synchronously")
        yield cluster
    finally:
        for server in (primary, standby):
            server.remove()
        shutil.rmtree(root, ignore_errors=True)
