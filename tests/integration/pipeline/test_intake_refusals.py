"""Bad input is refused at intake with a 4xx naming the field and the rule; nothing is stored
or sent."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest

from mailroute.adapters.db.pool import Pool
from tests.conftest import SandboxClient, TestCompany, email_request

LONG_LIST = [f"r{i}@example.com" for i in range(101)]
TOO_BIG = base64.b64encode(b"x" * (25 * 1024 * 1024 + 1)).decode()


def _attachment(**overrides: str) -> list[dict[str, str]]:
    attachment = {
        "filename": "a.pdf",
        "content_type": "application/pdf",
        "content_base64": "JVBERg==",
    }
    attachment.update(overrides)
    return [attachment]


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("invalid address", {"to": ["not-an-address"]}, "to[0]", "email_address"),
    ("two addresses in one", {"cc": ["a@example.com, b@example.com"]}, "cc[0]", "one_address"),
    ("no recipient", {"to": [], "cc": [], "bcc": []}, "to", "recipient_required"),
    (
        "CR/LF in subject",
        {"subject": "Invoice\r\nBcc: victim@example.com"},
        "subject",
        "header_injection",
    ),
    (
        "CR/LF in an address",
        {"to": ["a@example.com\nBcc: b@example.com"]},
        "to[0]",
        "header_injection",
    ),
    ("CR/LF in reply_to", {"reply_to": "a@example.com\r\nX: y"}, "reply_to", "header_injection"),
    (
        "CR/LF in a filename",
        {"attachments": _attachment(filename="a\r\n.pdf")},
        "attachments[0].filename",
        "header_injection",
    ),
    ("empty subject", {"subject": ""}, "subject", "not_empty"),
    ("blank subject", {"subject": "   "}, "subject", "not_empty"),
    ("no body", {"text": None, "html": None}, "text", "body_required"),
    ("more than 100 recipients", {"to": LONG_LIST}, "to", "max_recipients"),
    (
        "attachment not base64",
        {"attachments": _attachment(content_base64="%%%not base64")},
        "attachments[0].content_base64",
        "base64",
    ),
    (
        "wrong content type",
        {"attachments": _attachment(content_type="pdf")},
        "attachments[0].content_type",
        "content_type",
    ),
    (
        "total size over the limit",
        {"attachments": _attachment(content_base64=TOO_BIG)},
        "attachments",
        "max_size",
    ),
    ("unknown kind", {"kind": "spam"}, "kind", "one_of"),
    ("unknown sender", {"sender": "someone"}, "sender", "one_of"),
]


def _stored_count(database: Pool, company: TestCompany) -> int:
    with database.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM emails WHERE company_id = %s", (company.id,)
        ).fetchone()
    assert row is not None
    return int(row["n"])


@pytest.mark.parametrize(("case", "overrides", "field", "rule"), CASES, ids=[c[0] for c in CASES])
def test_refuses_bad_input_naming_the_field_and_the_rule(
    api: httpx.Client,
    company: TestCompany,
    database: Pool,
    sandbox: SandboxClient,
    case: str,
    overrides: dict[str, Any],
    field: str,
    rule: str,
) -> None:
    response = api.post(
        "/v1/emails", json=email_request(company, **overrides), headers=company.headers()
    )

    assert response.status_code == 422, response.text
    problems = response.json()["error"]["fields"]
    assert {"field": field, "rule": rule} in [
        {"field": p["field"], "rule": p["rule"]} for p in problems
    ], problems
    assert _stored_count(database, company) == 0
    assert sandbox.smtp_messages(rcpt=company.rcpt()) == []


def test_refuses_a_body_that_is_not_json(api: httpx.Client, company: TestCompany) -> None:
    response = api.post(
        "/v1/emails",
        content=b"{not json",
        headers={**company.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["field"] == "body"


def test_refuses_a_request_that_is_not_sent_as_json(
    api: httpx.Client, company: TestCompany
) -> None:
    response = api.post(
        "/v1/emails",
        content=b"to=a@example.com",
        headers={**company.headers(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert response.json()["error"]["fields"][0] == {
        "field": "Content-Type",
        "rule": "application_json",
        "message": "got application/x-www-form-urlencoded",
    }


def test_refuses_a_missing_or_unknown_api_key(api: httpx.Client, company: TestCompany) -> None:
    missing = api.post("/v1/emails", json=email_request(company))
    unknown = api.post(
        "/v1/emails", json=email_request(company), headers={"Authorization": "Bearer mr_0_nope"}
    )
    assert missing.status_code == unknown.status_code == 401
    assert missing.json()["error"]["fields"][0]["field"] == "Authorization"


def test_refuses_a_key_of_another_company_and_an_unknown_company(
    api: httpx.Client, make_company: Any, database: Pool
) -> None:
    mine, theirs = make_company(), make_company()

    other = api.post(
        "/v1/emails", json=email_request(mine, company_id=theirs.id), headers=mine.headers()
    )
    unknown = api.post(
        "/v1/emails", json=email_request(mine, company_id=str(uuid.uuid4())), headers=mine.headers()
    )

    assert other.status_code == 403
    assert other.json()["error"]["fields"][0] == {
        "field": "company_id",
        "rule": "own_company",
        "message": "this API key belongs to another company",
    }
    assert unknown.status_code == 404
    assert unknown.json()["error"]["fields"][0]["rule"] == "known_company"
    assert _stored_count(database, mine) == _stored_count(database, theirs) == 0


def test_an_email_of_one_company_is_invisible_to_another(
    api: httpx.Client, make_company: Any
) -> None:
    mine, theirs = make_company(), make_company()
    accepted = api.post("/v1/emails", json=email_request(mine), headers=mine.headers())
    assert accepted.status_code == 202

    response = api.get(f"/v1/emails/{accepted.json()['id']}", headers=theirs.headers())

    assert response.status_code == 404
