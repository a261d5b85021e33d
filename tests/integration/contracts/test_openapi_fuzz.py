"""The OpenAPI document is the truth: schemathesis, the OpenAPI fuzzer, runs every one of its
checks against the live web app (admin and sender keys, positive and negative data) and finds
nothing: no 5xx, no status code or header the document does not list, no body off its schema,
no schema-valid request refused, no schema-invalid one accepted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TestCompany

ST = str(Path(sys.executable).with_name("st"))
CONFIG = str(Path(__file__).with_name("schemathesis.toml"))
# Bounded: a fixed seed and example count keep the run in about a minute on this machine.
EXAMPLES = 60
SEED = 20261201


def _fuzz(web: str, key: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            ST,
            "--config-file",
            CONFIG,
            "run",
            f"{web}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {key}",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            # One worker: hypothesis describes its filters by parsing their source, and
            # Python 3.11's parser is not safe from two threads at once.
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.mark.parametrize("role", ["admin", "sender"])
def test_schemathesis_finds_nothing(
    role: str, web: str, company: TestCompany, worker: object, tmp_path: Path
) -> None:
    key = company.admin_key if role == "admin" else company.sender_key
    run = _fuzz(web, key, tmp_path)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
