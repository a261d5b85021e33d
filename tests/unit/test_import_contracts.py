"""Every import-linter contract of pyproject.toml fails when broken, and the tree keeps them all.

A contract that lets `core` import `httpx` checks nothing, so each one is broken on purpose: the
packages and pyproject.toml are copied to a temporary directory, probe modules that each break one
contract are added, and `lint-imports` runs on the copy (once per contract, all probes in place),
plus once on an unmodified copy. The real tree is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mailroute", "mailroute_sandbox")
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"


@dataclass(frozen=True)
class Probe:
    """A module added to the copy, and the import its contract's report must then show."""

    contract: str  # the contract's id in pyproject.toml
    path: str
    source: str
    reported: str

    @property
    def module(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")


BREAKING = [
    Probe(
        "layers",
        "mailroute/services/_probe_adapters.py",
        "from mailroute.adapters import db\n",
        "mailroute.services._probe_adapters -> mailroute.adapters",
    ),
    Probe(
        "layers",
        "mailroute/web/_probe_workers.py",
        "import mailroute.workers\n",
        "mailroute.web._probe_workers -> mailroute.workers",
    ),
    Probe(
        "layers",
        "mailroute/core/_probe_services.py",
        "from mailroute import services\n",
        "mailroute.core._probe_services -> mailroute.services",
    ),
    Probe(
        "layers",
        "mailroute/config/_probe_events.py",
        "import mailroute.events\n",
        "mailroute.config._probe_events -> mailroute.events",
    ),
    Probe(
        "pure-core",
        "mailroute/core/_probe_psycopg.py",
        "import psycopg\n",
        "mailroute.core._probe_psycopg -> psycopg",
    ),
    Probe(
        "pure-core",
        "mailroute/core/_probe_socket.py",
        "import socket\n",
        "mailroute.core._probe_socket -> socket",
    ),
    Probe(
        "pure-core",
        "mailroute/events/_probe_smtplib.py",
        "from smtplib import SMTP\n",
        "mailroute.events._probe_smtplib -> smtplib",
    ),
    Probe(
        "pure-core",
        "mailroute/events/_probe_google.py",
        "from google.oauth2 import credentials\n",
        "mailroute.events._probe_google -> google",
    ),
    Probe(
        "product-without-sandbox",
        "mailroute/web/_probe_sandbox.py",
        "import mailroute_sandbox\n",
        "mailroute.web._probe_sandbox -> mailroute_sandbox",
    ),
    Probe(
        "sandbox-uses-only-config",
        "mailroute_sandbox/_probe_core.py",
        "import mailroute.core\n",
        "mailroute_sandbox._probe_core -> mailroute.core",
    ),
]
# Imports the contracts allow: they must not appear in any report.
ALLOWED = [
    Probe(
        "sandbox-uses-only-config",
        "mailroute_sandbox/_probe_config.py",
        "import mailroute.config\nfrom mailroute.config import settings\n",
        "mailroute_sandbox._probe_config",
    ),
    Probe(
        "pure-core",
        "mailroute/core/_probe_stdlib.py",
        "import dataclasses\nimport email.message\nfrom datetime import UTC\n",
        "mailroute.core._probe_stdlib",
    ),
]


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str


def _copy_tree(destination: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, destination / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", destination / "pyproject.toml")
    return destination


def _lint_imports(copy: Path, *contract_ids: str) -> Run:
    """`lint-imports` on the copy: run from it, so it is what gets analysed, not the real tree."""
    selected = [arg for contract_id in contract_ids for arg in ("--contract", contract_id)]
    env = {**os.environ, "PYTHONPATH": str(copy), "COLUMNS": "400", "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache", "--no-logo", *selected],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Run(result.returncode, result.stdout + result.stderr)


def _contract_names() -> dict[str, str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {
        contract["id"]: contract["name"]
        for contract in config["tool"]["importlinter"]["contracts"]
        if "id" in contract
    }


@pytest.fixture(scope="module")
def probed_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """One copy with every probe in place, and one lint-imports run per probed contract."""
    copy = _copy_tree(tmp_path_factory.mktemp("probed"))
    for probe in BREAKING + ALLOWED:
        (copy / probe.path).write_text(probe.source)
    contract_ids = {probe.contract for probe in BREAKING + ALLOWED}
    return {contract_id: _lint_imports(copy, contract_id) for contract_id in contract_ids}


def test_every_contract_has_an_id_and_a_probe_that_breaks_it() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    unprobed = [
        contract.get("id", contract["name"])
        for contract in contracts
        if contract.get("id") not in {probe.contract for probe in BREAKING}
    ]
    assert not unprobed, "contracts without an `id` or without a probe in BREAKING:\n" + (
        "\n".join(unprobed)
    )


@pytest.mark.parametrize("probe", BREAKING, ids=lambda probe: probe.module)
def test_a_contract_fails_naming_itself_and_the_import_that_breaks_it(
    probe: Probe, probed_runs: dict[str, Run]
) -> None:
    name = _contract_names()[probe.contract]
    run = probed_runs[probe.contract]
    assert run.returncode != 0, f"lint-imports passed with {probe.path} in place:\n{run.output}"
    assert f"{name} BROKEN" in run.output, f"{name!r} is not reported broken:\n{run.output}"
    assert probe.reported in run.output, (
        f"{name!r} does not report {probe.reported!r} ({probe.path}):\n{run.output}"
    )


@pytest.mark.parametrize("probe", ALLOWED, ids=lambda probe: probe.module)
def test_a_contract_allows_what_it_means_to_allow(
    probe: Probe, probed_runs: dict[str, Run]
) -> None:
    run = probed_runs[probe.contract]
    assert probe.reported not in run.output, f"{probe.path} is allowed, yet reported:\n{run.output}"


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    run = _lint_imports(_copy_tree(tmp_path))
    broken = [line for line in run.output.splitlines() if " BROKEN" in line]
    assert run.returncode == 0, "broken contracts:\n" + "\n".join(broken) + "\n\n" + run.output
