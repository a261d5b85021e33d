"""A sandbox with its Microsoft part and a web app pointed at it, as processes of their own (the
session's sandbox keeps its default Microsoft port and CA file, which another stack on this
machine may hold): the sandbox writes its TLS listener's CA where the web app reads it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mailroute_sandbox.client import SandboxClient
from tests.stack import Process, free_port, http_ready, running


@dataclass(frozen=True)
class MicrosoftStack:
    web: str  # the web app's base URL
    sandbox: SandboxClient  # its controls (Google's and Microsoft's)
    microsoft_url: str  # the Microsoft listener: the authority host and Graph
    env: dict[str, str]  # what the processes run with


def microsoft_env(stack_env: dict[str, str], folder: Path) -> dict[str, str]:
    """The session's environment with a sandbox and a web app of their own on free ports."""
    web = f"http://127.0.0.1:{free_port()}"
    microsoft_port = free_port()
    ca_file = str(folder / "sandbox-microsoft-ca.pem")
    return {
        **stack_env,
        "WEB_PORT": web.rsplit(":", 1)[1],
        "PUBLIC_BASE_URL": web,
        "SANDBOX_BASE_URL": f"http://127.0.0.1:{free_port()}",
        "SANDBOX_SMTP_PORT": str(free_port()),
        "SANDBOX_REDIRECT_URIS": f"{web}/oauth/google/callback",
        "SANDBOX_MICROSOFT_PORT": str(microsoft_port),
        "SANDBOX_MICROSOFT_CA_FILE": ca_file,
        "SANDBOX_MICROSOFT_URL": f"https://127.0.0.1:{microsoft_port}",
        "MICROSOFT_CA_FILE": ca_file,
    }


@contextlib.contextmanager
def microsoft_stack(stack_env: dict[str, str], folder: Path, name: str) -> Iterator[MicrosoftStack]:
    """Start the sandbox (its CA written once its Microsoft listener runs), then the web app."""
    env = microsoft_env(stack_env, folder)
    sandbox_url, web = env["SANDBOX_BASE_URL"], env["PUBLIC_BASE_URL"]
    # The sandbox reads the settings too, before its CA file exists: it is told where to write
    # it, the web app where to read it.
    sandbox_env = {k: v for k, v in env.items() if k != "MICROSOFT_CA_FILE"}
    sandbox = Process(f"sandbox-{name}", ["sandbox"], sandbox_env)
    with (
        running(sandbox, http_ready(sandbox_url + "/_sandbox/microsoft/ca.pem")),
        running(Process(f"web-{name}", ["web"], env), http_ready(web + "/healthz")),
        SandboxClient(sandbox_url) as client,
    ):
        yield MicrosoftStack(web, client, env["SANDBOX_MICROSOFT_URL"], env)
