"""The CLI is a door too: `mailroute send` refuses what the API refuses (on what its arguments can
carry: no argument holds a NUL), `mailroute company create` refuses a name or an address that
would break the headers of every email the company sends, and ids in other UUID forms are no
company's and no email's. Exit 2 with `field: message (rule)` lines, never a traceback.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from mailroute.adapters.db.pool import Pool
from tests.conftest import TestCompany
from tests.integration.pipeline.doors import cli_send, stored_emails
from tests.integration.pipeline.test_doors_refuse_alike import WINDOWS_EXE
from tests.stack import MAILROUTE


def _args(of: TestCompany, **given: str) -> list[str]:
    values = {"company": of.id, "to": of.rcpt(), "subject": "Invoice 7", "text": "Hi"}
    values.update(given)
    return [part for key, value in values.items() for part in (f"--{key}", value)]


SEND_CASES: list[tuple[str, dict[str, str], str, str]] = [
    ("an escape in the subject", {"subject": "Invoice \x1b[2J"}, "subject", "control_characters"),
    ("U+2028 in the subject", {"subject": "Invoice\u2028Bcc: x@y"}, "subject", "line_separator"),
    ("CR/LF in the subject", {"subject": "Invoice\r\nBcc: x@y"}, "subject", "header_injection"),
    ("U+202E in a display name", {"to": "\u202eJane <j@example.com>"}, "to[0]", "bidi_control"),
    ("a control character in the text", {"text": "Hello\x07"}, "text", "control_characters"),
]


def _refused(result: subprocess.CompletedProcess[str], field: str, rule: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert any(
        line.startswith(f"{field}: ") and line.endswith(f"({rule})")
        for line in result.stderr.splitlines()
    ), result.stderr


@pytest.mark.parametrize(
    ("case", "given", "field", "rule"), SEND_CASES, ids=[c[0] for c in SEND_CASES]
)
def test_send_refuses_like_the_api(
    stack_env: dict[str, str],
    company: TestCompany,
    database: Pool,
    case: str,
    given: dict[str, str],
    field: str,
    rule: str,
) -> None:
    _refused(cli_send(stack_env, *_args(company, **given)), field, rule)
    assert stored_emails(database, company) == 0


@pytest.mark.parametrize(
    ("filename", "content", "field"),
    [
        ("setup.exe", b"just bytes", "attachments[0].filename"),
        ("statement.pdf", WINDOWS_EXE, "attachments[0].content_base64"),
        ("tool.js", b"alert(1)", "attachments[0].filename"),
    ],
)
def test_send_refuses_a_file_gmail_would_refuse(
    stack_env: dict[str, str],
    company: TestCompany,
    database: Pool,
    tmp_path: Path,
    filename: str,
    content: bytes,
    field: str,
) -> None:
    path = tmp_path / filename
    path.write_bytes(content)

    result = cli_send(stack_env, *_args(company), "--attach", str(path))

    _refused(result, field, "blocked_file_type")
    assert stored_emails(database, company) == 0


def test_send_refuses_more_than_100_attachments(
    stack_env: dict[str, str], company: TestCompany, database: Pool, tmp_path: Path
) -> None:
    attach: list[str] = []
    for i in range(101):
        (tmp_path / f"page-{i}.pdf").write_bytes(b"%PDF-1.4")
        attach += ["--attach", str(tmp_path / f"page-{i}.pdf")]

    _refused(cli_send(stack_env, *_args(company), *attach), "attachments", "max_attachments")
    assert stored_emails(database, company) == 0


def test_send_refuses_a_company_id_in_another_uuid_form(
    stack_env: dict[str, str], company: TestCompany, database: Pool
) -> None:
    result = cli_send(stack_env, *_args(company, company=f"urn:uuid:{company.id}"))

    _refused(result, "company_id", "uuid")
    assert stored_emails(database, company) == 0


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MAILROUTE, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _companies_replying_to(database: Pool, reply_to: str) -> int:
    with database.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM companies WHERE reply_to = %s", (reply_to,)
        ).fetchone()
    assert row is not None
    return int(row["n"])


CREATE_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("CR/LF in the name", {"name": "Acme\r\nBcc: victim@example.com"}, "name", "header_injection"),
    ("LF in the name", {"name": "Acme\nLtd"}, "name", "header_injection"),
    ("U+2028 in the name", {"name": "Acme\u2028Ltd"}, "name", "line_separator"),
    ("a control character in the name", {"name": "Acme\x1b Ltd"}, "name", "control_characters"),
    ("U+202E in the name", {"name": "Acme \u202edtL"}, "name", "bidi_control"),
    ("a blank name", {"name": "   "}, "name", "not_empty"),
    ("a name of 201 characters", {"name": "A" * 201}, "name", "max_length"),
    ("a reply-to that is no address", {"reply-to": "billing"}, "reply_to", "email_address"),
    (
        "a reply-to with a line break",
        {"reply-to": "billing@acme.example\r\nBcc: x@y.example"},
        "reply_to",
        "header_injection",
    ),
    (
        "an admin address with a display name",
        {"admin-email": "Ada <ada@acme.example>"},
        "admin_emails[0]",
        "bare_address",
    ),
]


@pytest.mark.parametrize(
    ("case", "given", "field", "rule"), CREATE_CASES, ids=[c[0] for c in CREATE_CASES]
)
def test_company_create_refuses_what_would_break_its_emails(
    stack_env: dict[str, str],
    database: Pool,
    case: str,
    given: dict[str, str],
    field: str,
    rule: str,
) -> None:
    values = {"name": "Acme Ltd", "reply-to": f"billing+{uuid.uuid4().hex[:8]}@acme.example"}
    values.update(given)
    args = [part for key, value in values.items() for part in (f"--{key}", value)]

    _refused(_cli(stack_env, "company", "create", *args), field, rule)
    assert _companies_replying_to(database, values["reply-to"]) == 0


def test_company_create_keeps_a_valid_name_exactly(
    stack_env: dict[str, str], database: Pool
) -> None:
    reply_to = f"billing+{uuid.uuid4().hex[:8]}@acme.example"
    name = 'Café "Zoë", Ltd \u200f'

    result = _cli(stack_env, "company", "create", "--name", name, "--reply-to", reply_to)

    assert result.returncode == 0, result.stderr
    with database.connection() as conn:
        row = conn.execute("SELECT name FROM companies WHERE reply_to = %s", (reply_to,)).fetchone()
    assert row is not None
    assert row["name"] == name


@pytest.mark.parametrize(
    "command",
    [
        ["key", "create", "--role", "sender", "--company"],
        ["email", "show", "{email}", "--company"],
        ["login-link", "--company"],
    ],
    ids=["key create", "email show", "login-link"],
)
def test_a_company_id_in_another_uuid_form_is_no_company(
    stack_env: dict[str, str], company: TestCompany, command: list[str]
) -> None:
    args = [part.replace("{email}", f"urn:uuid:{uuid.uuid4()}") for part in command]

    result = _cli(stack_env, *args, f"urn:uuid:{company.id}")

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "no " in result.stderr
