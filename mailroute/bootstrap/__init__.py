"""The one composition root: every adapter of every kind of process (web, worker, clock, CLI,
producer) is built here, from the one `Settings` the process read. Nothing else constructs a
pool, a broker, a repository or a Google client; services receive core's ports."""

from mailroute.bootstrap.cli import CliServices, build_cli
from mailroute.bootstrap.clock import ClockServices, build_clock
from mailroute.bootstrap.producer import build_producer
from mailroute.bootstrap.web import WebServices, build_web
from mailroute.bootstrap.worker import build_worker, build_worker_broker

__all__ = [
    "CliServices",
    "ClockServices",
    "WebServices",
    "build_cli",
    "build_clock",
    "build_producer",
    "build_web",
    "build_worker",
    "build_worker_broker",
]
